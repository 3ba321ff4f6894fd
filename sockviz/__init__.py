"""sockviz: watch a real socket live.

Importing the package must stay cheap and must not load Textual: the engine and the
headless ``--trace`` mode run without any UI.
"""

__version__ = "0.1.0"
