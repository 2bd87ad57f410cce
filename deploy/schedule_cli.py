"""``pipeline.py schedule``: create (or replace) a schedule from a file, list schedules, delete one.

    schedule FILE [--replace] [--param NAME=VALUE ...]   create; refuse an existing name unless --replace
    schedule list   [--target kubeflow|vertex]           every schedule: name, cron, state, id
    schedule delete NAME [--target kubeflow|vertex]      delete the schedule(s) of that name

Kubeflow schedules are recurring runs (``--host``), Vertex AI ones pipeline job schedules
(``--project``, ``--region``); deploy/schedule_admin.py talks to both.
"""

from __future__ import annotations

import argparse
import tempfile

from deploy import schedule_admin
from deploy.package import DeployError
from deploy.targets import (
    CompileFn,
    add_target_flags,
    kubeflow_target,
    package_for,
    parsed_arguments,
    vertex_client_settings,
    vertex_target,
)

ACTIONS = ("list", "delete")


def add_schedule_command(commands, compile_pipeline: CompileFn, guarded) -> None:
    cmd = commands.add_parser(
        "schedule",
        help="create, list or delete scheduled retraining (schedules/*.yaml)",
        description=__doc__.split("\n\n")[1],
    )
    cmd.add_argument(
        "what",
        nargs="+",
        metavar="FILE | list | delete NAME",
        help="a schedule file (e.g. schedules/nightly-kubeflow.yaml) to create, `list`, or `delete NAME`",
    )
    cmd.add_argument(
        "--target",
        choices=("kubeflow", "vertex"),
        help="list / delete: which backend (default: kubeflow); a schedule file names its own",
    )
    cmd.add_argument(
        "--replace",
        action="store_true",
        help="replace a schedule of the same name (delete, then create); without it, an existing "
        "name is an error",
    )
    cmd.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="override a parameter of the file"
    )
    # A scheduled run must see the newest data and register its own model: no task from the cache.
    add_target_flags(cmd, cache_by_default=False)
    cmd.set_defaults(handler=guarded(lambda args: run_schedule_command(args, compile_pipeline)))


def run_schedule_command(args: argparse.Namespace, compile_pipeline: CompileFn) -> int:
    action, *rest = args.what
    if action == "list" and not rest:
        return _list(args)
    if action == "delete":
        if len(rest) != 1:
            raise DeployError("usage: schedule delete NAME")
        return _delete(args, rest[0])
    if rest:
        raise DeployError(
            f"schedule takes one schedule file, `list` or `delete NAME`; got {' '.join(args.what)}"
        )
    return _create(args, action, compile_pipeline)


def _list(args: argparse.Namespace) -> int:
    if (args.target or "kubeflow") == "kubeflow":
        target = kubeflow_target(args)
        from deploy.kubeflow import connect

        found = schedule_admin.kubeflow_schedules(connect(target), target.namespace)
    else:
        found = schedule_admin.vertex_schedules(vertex_client_settings(args))
    print(schedule_admin.HEADER)
    for schedule in found:
        print(schedule.line())
    if not found:
        print("(no schedules)")
    return 0


def _delete(args: argparse.Namespace, name: str) -> int:
    if (args.target or "kubeflow") == "kubeflow":
        target = kubeflow_target(args)
        from deploy.kubeflow import connect

        deleted = schedule_admin.kubeflow_delete(connect(target), name, target.namespace)
    else:
        deleted = schedule_admin.vertex_delete(vertex_client_settings(args), name)
    for schedule in deleted:
        print(f"deleted schedule {schedule.name} ({schedule.id})")
    return 0


def _create(args: argparse.Namespace, path: str, compile_pipeline: CompileFn) -> int:
    from deploy.schedules import load_schedule

    spec = load_schedule(path)
    if args.target and args.target != spec.target:
        raise DeployError(f"{path} is a {spec.target} schedule; --target {args.target} contradicts it")
    with tempfile.TemporaryDirectory() as workdir:
        package = package_for(args, spec.target, compile_pipeline, workdir)
        arguments = parsed_arguments(args.param, package, spec.parameters)
        if spec.target == "kubeflow":
            _create_on_kubeflow(args, spec, package, arguments)
        else:
            _create_on_vertex(args, spec, package, arguments)
    return 0


def _create_on_kubeflow(args, spec, package, arguments) -> None:
    from deploy import kubeflow

    target = kubeflow_target(args)
    client = kubeflow.connect(target)
    replaced = schedule_admin.refuse_or_replace(
        schedule_admin.kubeflow_schedules(client, target.namespace, spec.name),
        spec.name,
        args.replace,
        lambda: schedule_admin.kubeflow_delete(client, spec.name, target.namespace),
    )
    rid = kubeflow.create_recurring_run(
        target,
        package,
        spec.name,
        spec.cron,
        arguments,
        spec.max_concurrency,
        client=client,
        description=spec.description,
    )
    verb = "replaced" if replaced else "created"
    print(f"{verb} recurring run {spec.name} (id {rid}), cron {spec.cron!r}")


def _create_on_vertex(args, spec, package, arguments) -> None:
    from deploy import vertex

    target = vertex_target(args)
    settings = {"project": target.project, "location": target.region}
    replaced = schedule_admin.refuse_or_replace(
        schedule_admin.vertex_schedules(settings, spec.name),
        spec.name,
        args.replace,
        lambda: schedule_admin.vertex_delete(settings, spec.name),
    )
    resource = vertex.create_schedule(
        target,
        package,
        spec.name,
        spec.cron,
        arguments,
        spec.max_concurrency,
        enable_caching=None if args.cache else False,
    )
    print(f"{'replaced' if replaced else 'created'} schedule {resource}, cron {spec.cron!r}")
