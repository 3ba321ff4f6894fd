"""Building the TUI from the command line: its configuration and its runner, then running it.

(Temporary home while the command line moves to a typed options object.)
"""

from __future__ import annotations

import argparse
import collections


def run_app(args: argparse.Namespace) -> int:
    """Run the TUI for the parsed command line; returns the exit status."""
    from sockviz.app.app import AppConfig, SockvizApp
    from sockviz.cli import (
        is_scenario_file,
        outside_runner_factory,
        resolve_scenario,
        scenario_file,
    )
    from sockviz.engine import scenarios as scenario_registry
    from sockviz.engine.gate import Mode
    from sockviz.engine.replay import replay_factory

    config = AppConfig(
        scenario=args.scenario, family=args.family, port=args.port, step=args.step,
        closer=getattr(args, "closer", None), size=getattr(args, "size", None),
    )
    factory = None  # the app's own engine process
    scenarios = None
    config.record = getattr(args, "record", None)
    config.quiz = bool(getattr(args, "quiz", False))
    if is_scenario_file(args.scenario):
        scenario = resolve_scenario(args)
        scenarios = collections.ChainMap({scenario.name: scenario}, scenario_registry.REGISTRY)
        config.scenario, config.scenario_file = scenario.name, scenario_file(args)
    recording = getattr(args, "replay_of", None)
    if recording is not None:
        factory = replay_factory(recording.events)
        config.replay = args.replay
    if getattr(args, "listen", None) is not None or getattr(args, "connect", None) is not None:
        factory = outside_runner_factory(args)
        config.scenario = factory.scenario.name
        config.outside = "listen" if args.listen is not None else "connect"
        config.where = str(factory.endpoint)
        scenarios = {factory.scenario.name: factory.scenario}
    app = SockvizApp(config, runner_factory=factory, scenarios=scenarios)
    if config.outside and not config.step:
        app.mode = Mode.FAST  # a real peer should not wait a classroom pace for each call
    app.run()
    return app.return_code or 0
