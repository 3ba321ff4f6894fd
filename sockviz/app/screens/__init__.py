"""Modal screens: help and the scenario picker."""
