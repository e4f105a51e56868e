"""`usage export DIR --partition day|month`: the wiring of a partitioned export.

`export_command` hands over here when `--partition` (or `-o parquet`) is
given; the work is `usage_cli.export.plan_partitioned`'s.
"""

from __future__ import annotations

from typing import Annotated

import typer

from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import OUTPUT_PANEL
from usage_cli.partitions import MANIFEST_NAME, Partition

PARTITION_EXAMPLES = """\
  usage export usage/ --partition day --since 90d   (usage/date=YYYY-MM-DD/part-00000.jsonl.gz)
  usage export usage/ --partition month -o parquet  (needs usage-cli[parquet])
"""

PartitionOpt = Annotated[
    Partition | None,
    typer.Option(
        "--partition",
        help="Write PATH as a folder of Hive-style parts, one folder per UTC day "
        "(date=YYYY-MM-DD/) or month (month=YYYY-MM/) of createdAt, with one "
        "_manifest.json for the set.",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]


def export_partitioned(
    ctx: typer.Context,
    path: str,
    partition: Partition | None,
    fmt: str | None,
    *,
    force: bool,
    resume: bool,
    demo: bool,
    db: str | None,
    source: str | None,
    cost: bool = False,
    prices: str | None = None,
) -> None:
    from usage_cli.cli._export import costed, prepare, progress_and_reading, tell_cost
    from usage_cli.export._partitioned import plan_partitioned

    if cost and partition is not None:
        from usage_cli.export._costs import refuse_cost_unless_csv

        # Before the folder is looked at: csv parts, or no cost column.
        refuse_cost_unless_csv(fmt or "jsonl", partitioned=True)
    run = invocation(ctx)
    runtime = run.runtime
    # The plan holds DIR's lock until this run ends, however it ends.
    with plan_partitioned(
        path, partition, fmt, force=force, resume=resume, now=runtime.now
    ) as plan:
        query, proof, settings = prepare(
            run, ctx.params, started=plan.started, to_stdout=False, prices=prices
        )
        table = costed(run, settings) if cost else None
        with progress_and_reading(
            run, settings, query, plan.target.path, plan.started, demo=demo, db=db, source=source
        ) as (progress, reading):
            manifest = plan.run(
                reading.pages,
                query,
                api_root=reading.root,
                run_as=reading.run_as,
                now=runtime.now,
                on_progress=progress.update,
                chain=proof.chain,
                prices=table,
            )
            progress.done_set(manifest)
        if table is not None:
            tell_cost(run, table, manifest.prices)
        proof.seal(run, plan.target.path / MANIFEST_NAME)
