"""Rich output of the developer commands: the block table, check reports, job results."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from neops_worker.devkit.blocktools._blocks import (
    LoadedBlocks,
    Problem,
    block_where,
    rollback_notes,
    skipped_entry,
)
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition
from neops_worker.registry import is_reversible
from neops_worker.worker.outcome import JobOutcome


def _flag(value: bool) -> str:
    return "yes" if value else "-"


def blocks_table(blocks: list[DiscoveredBlock]) -> Table:
    """One row per block: id over its source ``file:line``, run-on, type and flags."""
    table = Table(title=f"{len(blocks)} function block(s)", title_justify="left")
    # The id is what people look for: keep it on one line; flags and source wrap first.
    widest = max((len(block.fb_id) for block in blocks), default=10)
    table.add_column("Block / source", overflow="fold", min_width=min(widest, 60))
    table.add_column("Run on", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Flags")
    for block in blocks:
        reg = block.registration
        cell = Text(block.fb_id, style="bold")
        cell.append("\n" + block_where(block), style="dim")
        table.add_row(cell, reg.run_on, reg.fb_type, _flags(block))
    return table


def _flags(block: DiscoveredBlock) -> Text:
    reg = block.registration
    flags = Text()
    for name, on in (
        ("pure", reg.is_pure),
        ("idempotent", reg.is_idempotent),
        ("reversible", is_reversible(block)),
        ("deprecated", reg.deprecated),
    ):
        if on:
            flags.append(("" if not flags else "\n") + name, style="yellow" if name == "deprecated" else "")
    return flags


def print_problems(console: Console, problems: list[Problem]) -> None:
    """``file:line: message``, then each detail indented below it, like a linter."""
    for problem in problems:
        line = Text()
        if problem.where:
            line.append(f"{problem.where}: ", style="bold")
        line.append(problem.message, style="red")
        console.print(line, soft_wrap=True)
        for detail in problem.details:
            console.print(Text(f"    - {detail}"), soft_wrap=True)


def print_skipped(console: Console, loaded: LoadedBlocks) -> None:
    """The test files and directories discovery did not import, one per line, if there are any."""
    skipped = loaded.report.skipped
    if not skipped:
        return
    console.print(Text(f"Skipped {len(skipped)} test file(s) and directory(ies), not imported:", style="dim"))
    for path in skipped:
        console.print(Text(f"    {skipped_entry(path)}", style="dim"), soft_wrap=True)


def print_check(console: Console, loaded: LoadedBlocks, problems: list[Problem]) -> None:
    """The check report: every problem, the skipped test files, which blocks are reversible, a summary."""
    print_problems(console, problems)
    print_skipped(console, loaded)
    for fb_id, why in rollback_notes(loaded.blocks):
        console.print(Text(f"{fb_id}: {why}"), soft_wrap=True)
    reversible = sum(is_reversible(block) for block in loaded.blocks)
    summary = f"{len(loaded.blocks)} function block(s) in {loaded.report.modules} module(s)"
    summary += f", {reversible} reversible" if reversible else ""
    if problems:
        console.print(Text(f"\n{len(problems)} problem(s); {summary}.", style="bold red"))
    else:
        console.print(Text(f"OK: {summary}, no problems.", style="bold green"))


def print_outcome(console: Console, job: JobDefinition, outcome: JobOutcome) -> None:
    """A job result for people: status line, message, data, acquires and dbUpdates."""
    result = outcome.result.to_wire()
    body = result["result"]
    style = "bold green" if body["success"] else "bold red"
    target = f"{job.type}, {job.run_on}" + (f" {job.entity_id}" if job.entity_id is not None else "")
    head = Text(f"{result['status']} ", style=style)
    head.append(f"{job.function_block_id} ({target}) in {outcome.duration_s:.3f} s", style="")
    console.print(head, soft_wrap=True)
    console.print(Text("message: ", style="bold") + Text(body.get("message") or ""), soft_wrap=True)
    if "data" in body:
        console.print(Text("data:", style="bold"))
        console.print(JSON(json.dumps(body["data"])))
    if result.get("acquires"):
        console.print(acquires_table(result["acquires"]))
    if "dbUpdates" in body:
        console.print(db_updates_table(body["dbUpdates"]["updates"]))


def acquires_table(acquires: list[dict[str, Any]]) -> Table:
    """The acquires of an acquire job, one row each."""
    table = Table(title="acquires", title_justify="left")
    for column in ("Type", "Entity", "Not empty", "Query / filter", "Limit", "Description"):
        table.add_column(column, overflow="fold")
    for acquire in acquires:
        table.add_row(
            acquire["type"],
            acquire["entity"],
            _flag(acquire["assertNotEmpty"]),
            acquire.get("query") or acquire.get("filter") or "",
            str(acquire.get("limit", "")),
            acquire.get("description") or "",
        )
    return table


def db_updates_table(updates: list[dict[str, Any]]) -> Table:
    """The ``dbUpdates`` entries, one row each: operation, entity, id and the change."""
    table = Table(title=f"dbUpdates ({len(updates)})", title_justify="left")
    for column in ("Operation", "Entity", "Id", "Change"):
        table.add_column(column, overflow="fold")
    for update in updates:
        table.add_row(update["operation"], update["entity"], str(update["id"]), _change(update))
    return table


def _change(update: dict[str, Any]) -> Text:
    if update["operation"] == "patch":
        return Text(f"{update['path']} = {json.dumps(update.get('value'))}")
    if update["operation"] == "create":
        data = {k: v for k, v in update["data"].items() if v is not None}
        options = {k: update[k] for k in ("identifierFields", "skipIfIdentifierExists") if update.get(k)}
        return Text(json.dumps(data) + "".join(f"  {k}={json.dumps(v)}" for k, v in options.items()))
    return Text("")
