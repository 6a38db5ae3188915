"""What the delivery assets of every kind share: pushing a solved instance from a run, the
push mail, the provider's recipients, and links to stored reports for the asset page."""

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import dagster as dg
from sqlalchemy import Engine

from carrier_opt.db.recipients import Recipients, notification_recipients
from carrier_opt.defs import run_context
from carrier_opt.defs.resources import JasperResource, NotifierResource, ResultStoreResource
from carrier_opt.delivery.messages import Notification, push_message
from carrier_opt.delivery.rate_plan_updates import PushOutcome
from carrier_opt.delivery.storage import ResultStore, S3ResultStore
from carrier_opt.pipeline.push import push_mode, push_solved
from carrier_opt.pipeline.reports import InstanceReport
from carrier_opt.pipeline.session import RunProgress, session_ends_here
from carrier_opt.pipeline.solved import InstanceWinner


def push_run(
    context: dg.AssetExecutionContext,
    engine: Engine,
    jasper: JasperResource,
    *,
    provider: str,
    provider_id: int,
    solved: InstanceWinner,
) -> PushOutcome:
    """Push (or dry-run) one solved instance from a run, as the provider's settings say."""
    outcome = push_solved(
        engine,
        lambda: jasper.client_for(engine, provider),
        solved,
        provider_id=provider_id,
        mode=push_mode(engine, provider_id, None),
        holder=f"run {context.run.run_id}",
        now=lambda: run_context.clock(),  # looked up per call: tests replace the clock
        run_id=context.run.run_id,
    )
    for problem in outcome.problems:
        context.log.warning("%s: %s", solved.label, problem)
    context.log.info("%s: %s", solved.label, outcome.summary())
    return outcome


def push_and_mail(
    context: dg.AssetExecutionContext,
    progress: RunProgress,
    *,
    jasper: JasperResource,
    notifier: NotifierResource,
    provider: str,
    period_key: str,
    solved: Callable[[], list[tuple[str, InstanceWinner]]],
) -> dict[str, PushOutcome]:
    """The session's last step, for every kind that pushes: each solved instance pushed (or
    dry-run) in turn — so a later one's Go/No-Go sees the time the earlier ones took —, the
    session failed with the push or completed, then each push mailed. ``solved`` answers (name,
    instance) pairs; the outcomes are by name."""
    engine, ids = progress.engine, progress.ids
    outcomes: dict[str, PushOutcome] = {}
    labels: dict[str, str] = {}
    with session_ends_here(progress):
        for name, instance in solved():
            outcomes[name] = push_run(
                context,
                engine,
                jasper,
                provider=provider,
                provider_id=ids.provider_id,
                solved=instance,
            )
            labels[name] = instance.label
    for name, outcome in outcomes.items():  # a mail that fails does not fail the push
        mail_push(
            engine,
            notifier,
            outcome,
            ids.provider_id,
            provider_label=labels[name],
            period_key=period_key,
            run_url=notifier.run_url(context.run.run_id),
        )
    return outcomes


def mail_push(
    engine: Engine,
    notifier: NotifierResource,
    outcome: PushOutcome,
    provider_id: int,
    *,
    provider_label: str,
    period_key: str,
    run_url: str | None,
) -> None:
    """The push mail (Go/No-Go, what was sent, expected and realized saving) of a push that
    had changes to decide on (none otherwise)."""
    if not outcome.changes and outcome.status.value != "no_go":
        return
    message = push_message(
        provider=provider_label, period_key=period_key, outcome=outcome, run_url=run_url
    )
    notifier.send(message, recipients(engine, provider_id))


def recipients(engine: Engine, provider_id: int) -> Recipients:
    """The provider's notification recipients."""
    with engine.connect() as connection:
        return notification_recipients(connection, provider_id)


def send_all(
    notifier: NotifierResource, messages: list[Notification | None], to: Recipients
) -> list[str]:
    """Send each message that exists; answers the kinds sent."""
    return [
        message.kind
        for message in messages
        if message is not None and notifier.send(message, to) is not None
    ]


def warning_count(warnings: Notification | None) -> int:
    """The warnings listed in the warnings mail (one ``- `` line each)."""
    if warnings is None:
        return 0
    return sum(line.startswith("- ") for line in warnings.body.splitlines())


def file_links(store: ResultStore, uri: str) -> dict:
    """How to open a stored file from the UI: ``report`` links it when a browser can open it
    (the reports folder served by ``make ui``, the S3 console), else shows its path;
    ``download`` is a presigned link on S3; ``how_to_open`` says it in one sentence."""
    link = store.link(uri)
    parts = urlsplit(uri)
    shown = dg.MetadataValue.path(unquote(parts.path)) if parts.scheme == "file" else uri
    metadata: dict = {
        "report": dg.MetadataValue.url(link) if link else shown,
        "how_to_open": store.how_to_open(uri),
    }
    if isinstance(store, S3ResultStore):
        metadata["download"] = dg.MetadataValue.url(store.download_link(uri))
    return metadata


def reports_links(result_store: ResultStoreResource, reports: list[InstanceReport]) -> dict:
    """Each workbook's browser link (the served reports folder, the S3 console), else its
    storage URI, by file name."""
    store = result_store.store()
    return {r.file_name: store.link(r.stored.uri) or r.stored.uri for r in reports}
