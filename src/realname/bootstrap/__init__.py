"""The composition root: Settings → adapters → use cases. Nothing is built at import time.

``Container`` builds each dependency once, on first use, so that a command that needs only the
document checker never opens the database or loads a face model.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa

from realname.adapters.cli.privacy_commands import KeyCustodyServices, PrivacyServices
from realname.adapters.cli.registry_commands import InitReport
from realname.adapters.cli.report_commands import ReportServices
from realname.adapters.crypto.key_custody import KeyFileBackups, KeyFileKeys
from realname.adapters.crypto.keyfile import LocalKeyFileProvider
from realname.adapters.crypto.terminal_keys import Ed25519TerminalKeys
from realname.adapters.documents.regions import load_region_directory
from realname.adapters.http.client_certs import PROTOCOL as HTTP_PROTOCOL
from realname.adapters.http.client_certs import ClientCertHeader, ServerTls
from realname.adapters.http.services import HttpServices
from realname.adapters.http.stream_relay import StreamRelay
from realname.adapters.metrics import ServiceMetrics
from realname.adapters.notifications import ConsoleCodeSender, ConsoleNoticeSender
from realname.adapters.storage.attempt_repositories import SqlChallengeStore
from realname.adapters.storage.database import check_database, create_database_engine, database_file_missing
from realname.adapters.storage.migrate import pending, upgrade
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.adapters.system import SecretsRandom, SystemClock, Uuid4Ids
from realname.adapters.vision.face_finder import OnnxFaceFinder
from realname.adapters.vision.images import PillowImageDecoder, encode_jpeg
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.actors import SYSTEM
from realname.app.attempts import AttemptDeps
from realname.app.card_front import PrintedPortraitReader
from realname.app.framing import FaceFinder, FramingDeps, FramingGuide
from realname.app.key_custody import KeyCustody
from realname.app.keys import RewrappingCipher, SecretMaterial, TokenIssuer
from realname.app.liveness import ImageRgb, LivenessChecker
from realname.app.matching import FaceEngine
from realname.app.notices import NoticeDeps, NoticeSender
from realname.app.owner_services import OwnerServices
from realname.app.ports import BlindIndexer, Clock, RandomSource, SecretHasher, Signer
from realname.app.privacy import keep_evidence
from realname.app.recent_sign_ins import RecentSignIns
from realname.app.registration import Registration
from realname.app.registry import Registry, RegistryDeps
from realname.app.relying_party_checks import PartyAdmin
from realname.app.review import Review
from realname.app.self_service import CodeSender, SelfService, SelfServiceDeps
from realname.app.staff_accounts import StaffAccounts
from realname.app.staff_auth import SessionRules, StaffAuth
from realname.app.streamed_verification import LivenessStreams
from realname.app.terminals import Terminals
from realname.app.verification import Verification
from realname.app.visits import Visits
from realname.bootstrap import crypto
from realname.bootstrap.checks import CheckServices, build_check_services
from realname.bootstrap.liveness import build_liveness_checker
from realname.bootstrap.privacy import (
    PrivacyJobs,
    build_checkpoint_signer,
    build_key_custody,
    build_privacy_services,
    build_witnesses,
    privacy_unit_of_work,
)
from realname.bootstrap.reports import build_report_services
from realname.bootstrap.vision import (
    FACE_ENGINE_NAMES,
    build_face_engine,
    build_printed_portrait_reader,
    load_onnx_models,
)
from realname.config import DEV_TOKEN_SECRET, Settings
from realname.domain.errors import DependencyUnavailable, InvalidInput
from realname.domain.identity.regions import RegionDirectory
from realname.domain.policy import Policy

log = logging.getLogger("realname.bootstrap")


class Container:
    """Holds the wired adapters and use cases for one process."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        random: RandomSource | None = None,
        code_sender: CodeSender | None = None,
        notice_sender: NoticeSender | None = None,
    ) -> None:
        """``clock`` and ``random`` replace the system's for tests and demos (e.g. a fixed challenge order);
        ``code_sender`` replaces the development console sender of one-time codes (an SMS gateway)."""
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.random: RandomSource = random or SecretsRandom()
        self.code_sender: CodeSender = code_sender or ConsoleCodeSender(reveal_codes=settings.env != "prod")
        self.notice_sender: NoticeSender = notice_sender or ConsoleNoticeSender(reveal_notices=settings.env != "prod")

    # -- plain values ---------------------------------------------------------------------------

    def policy(self) -> Policy:
        return self.settings.policy.to_domain()

    def models_dir(self) -> Path:
        return self.settings.resolved_models_dir

    @cached_property
    def _regions(self) -> RegionDirectory:
        return load_region_directory()

    def region_directory(self) -> RegionDirectory:
        return self._regions

    # -- storage --------------------------------------------------------------------------------

    @cached_property
    def engine(self) -> sa.Engine:
        # One host's PostgreSQL connections (``database_connections``) are shared by its workers: each
        # worker's pool holds half its share and may overflow to the other half.
        share = self.settings.database_connections // self.settings.workers
        return create_database_engine(self.settings.resolved_database_url, pool_size=max(1, share // 2))

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, audit_observer=self.metrics.observe_audit)

    @cached_property
    def metrics(self) -> ServiceMetrics:
        """This process's metrics (``/metrics``); each worker builds its own after the fork."""
        return ServiceMetrics()

    # -- keys -----------------------------------------------------------------------------------

    @cached_property
    def key_provider(self) -> LocalKeyFileProvider:
        return crypto.build_key_provider(self.settings.resolved_key_file)

    @cached_property
    def cipher(self) -> RewrappingCipher:
        return crypto.build_cipher(self.key_provider)

    @cached_property
    def blind_indexer(self) -> BlindIndexer:
        return crypto.build_blind_indexer(self.key_provider)

    @cached_property
    def signer(self) -> Signer:
        return crypto.build_signer(self.key_provider)

    @cached_property
    def secret_hasher(self) -> SecretHasher:
        return crypto.build_secret_hasher()

    @cached_property
    def token_issuer(self) -> TokenIssuer:
        return crypto.build_token_issuer(self._token_source, self.settings.token_ttl_minutes)

    @property
    def _token_source(self) -> SecretMaterial | str:
        secret = self.settings.token_secret.get_secret_value()
        return self.key_provider if secret == DEV_TOKEN_SECRET else secret

    def stream_relay(self) -> StreamRelay | None:
        """A new relay for one HTTP app (it listens on its own port once the app starts), or None when off."""
        host = self.settings.stream_relay_host
        if host == "off":
            return None
        return StreamRelay(crypto.stream_relay_key(self._token_source), host)

    # -- models (loaded on first use, never at import) ------------------------------------------

    @cached_property
    def onnx_models(self) -> OnnxFaceModels:
        return load_onnx_models(self.models_dir())

    def face_engine(self, name: str | None = None) -> FaceEngine:
        chosen = name or self.settings.face_engine
        if chosen not in FACE_ENGINE_NAMES:
            raise ValueError(f"unknown face engine {chosen!r}")
        if chosen not in self._engines:
            self._engines[chosen] = build_face_engine(
                chosen,
                self.models_dir(),
                self.settings.inference_threads,
                self.policy(),
                onnx_models=lambda: self.onnx_models,
            )
        return self._engines[chosen]

    @cached_property
    def _printed_portraits(self) -> PrintedPortraitReader:
        return build_printed_portrait_reader(self.onnx_models)

    def printed_portrait_reader(self) -> PrintedPortraitReader:
        """Finds and checks a card front's printed portrait (faceplugin detector and landmarks, shared)."""
        return self._printed_portraits

    @cached_property
    def _engines(self) -> dict[str, FaceEngine]:
        return {}

    @cached_property
    def _liveness(self) -> LivenessChecker:
        return build_liveness_checker(self.onnx_models, self.policy())

    def liveness_checker(self) -> LivenessChecker:
        return self._liveness

    # -- use cases ------------------------------------------------------------------------------

    @cached_property
    def _registry(self) -> Registry:
        return Registry(self._registry_deps)

    @cached_property
    def _registry_deps(self) -> RegistryDeps:
        return RegistryDeps(
            uow=self.unit_of_work,
            clock=self.clock,
            ids=Uuid4Ids(),
            random=self.random,
            policy=self.policy(),
            cipher=self.cipher,
            blind_index=self.blind_indexer,
            hasher=self.secret_hasher,
        )

    def registry(self) -> Registry:
        self._require_initialised()
        return self._registry

    def staff_accounts(self) -> StaffAccounts:
        self._require_initialised()
        return StaffAccounts(self._registry_deps, self.recent_sign_ins)

    @cached_property
    def _attempt_deps(self) -> AttemptDeps:
        return AttemptDeps(
            uow=self.unit_of_work,
            clock=self.clock,
            ids=Uuid4Ids(),
            random=self.random,
            policy=self.policy(),
            cipher=self.cipher,
            blind_index=self.blind_indexer,
            regions=self.region_directory(),
            challenges=SqlChallengeStore(self.engine),
            liveness=self.liveness_checker,
            face_engine=self.face_engine,
            image_decoder=PillowImageDecoder(),
            verifier=Ed25519TerminalKeys(),
            keep_evidence=self._keep_evidence,
            printed_portraits=self.printed_portrait_reader,
            notices=NoticeDeps(
                self.notice_sender,
                self.settings.reports.notice_how_to_report,
                self.settings.reports.utc_offset_hours,
            ),
        )

    @cached_property
    def verification(self) -> Verification:
        return Verification(self._attempt_deps)

    @cached_property
    def registration(self) -> Registration:
        return Registration(self._attempt_deps)

    @cached_property
    def owner_services(self) -> OwnerServices:
        return OwnerServices(self._attempt_deps)

    @cached_property
    def review(self) -> Review:
        return Review(self._attempt_deps)

    @cached_property
    def visits(self) -> Visits:
        return Visits(self._attempt_deps)

    @cached_property
    def _face_finder(self) -> FaceFinder:
        return OnnxFaceFinder(self.onnx_models)

    def face_finder(self) -> FaceFinder:
        """Face detection alone (the framing guide), on the shared faceplugin sessions."""
        return self._face_finder

    @cached_property
    def framing_guide(self) -> FramingGuide:
        return FramingGuide(FramingDeps(self.unit_of_work, PillowImageDecoder(), self.face_finder, self.clock))

    @cached_property
    def liveness_streams(self) -> LivenessStreams:
        """Streamed verifications open in this process (in memory: see ``app.streamed_verification``)."""
        return LivenessStreams(
            verification=self.verification,
            liveness=self.liveness_checker,
            face_engine=self.face_engine,
            clock=self.clock,
            random=self.random,
            policy=self.policy(),
        )

    @cached_property
    def self_service(self) -> SelfService:
        return SelfService(
            SelfServiceDeps(
                uow=self.unit_of_work,
                clock=self.clock,
                ids=Uuid4Ids(),
                random=self.random,
                policy=self.policy(),
                cipher=self.cipher,
                blind_index=self.blind_indexer,
                sender=self.code_sender,
            )
        )

    @cached_property
    def _terminals(self) -> Terminals:
        return Terminals(self.unit_of_work, self.clock, Uuid4Ids(), Ed25519TerminalKeys())

    def terminals(self) -> Terminals:
        self._require_initialised()
        return self._terminals

    def _keep_evidence(self, attempt_id: str, frame_rgb: ImageRgb) -> object:
        return keep_evidence(
            privacy_unit_of_work(self.engine),
            policy=self.policy(),
            cipher=self.cipher,
            clock=self.clock,
            ids=Uuid4Ids(),
            attempt_id=attempt_id,
            frame_jpeg=encode_jpeg(frame_rgb),
        )

    @cached_property
    def _privacy(self) -> PrivacyServices:
        witness, remote = build_witnesses(self.settings.resolved_audit_witness_dir, self.settings.audit_witness_url)
        return build_privacy_services(
            engine=self.engine,
            keys=self.key_provider,
            material=self.key_provider,
            cipher=self.cipher,
            clock=self.clock,
            policy=self.policy(),
            checkpoint_every=self.settings.audit_checkpoint_every,
            checkpoint_minutes=self.settings.audit_checkpoint_minutes,
            witness=witness,
            remote_witnesses=remote,
            custody=self.key_custody,
        )

    def privacy_services(self) -> PrivacyServices:
        self._require_initialised()
        return self._privacy

    @cached_property
    def key_custody(self) -> KeyCustody:
        # The key file is loaded only when an operation needs it (never by `holds_data` or a restore).
        return build_key_custody(self.engine, self.clock, lambda: KeyFileKeys(self.key_provider))

    def key_custody_services(self) -> KeyCustodyServices:
        """Custody and backups: needs an up-to-date schema, not a key file (``keys restore`` brings it)."""
        self._require_schema()
        return KeyCustodyServices(self.key_custody, KeyFileBackups(self.settings.resolved_key_file))

    @cached_property
    def _checks(self) -> CheckServices:
        return build_check_services(
            engine=self.engine,
            clock=self.clock,
            cipher=self.cipher,
            blind_index=self.blind_indexer,
            regions=self.region_directory(),
            policy=self.settings.checks.to_domain(),
            audit_observer=self.metrics.observe_audit,
            batch_wait_ms=self.settings.checks.batch_wait_ms,
            batch_max=self.settings.checks.batch_max,
            batch_running=self.settings.checks.batch_running,
        )

    def check_services(self) -> CheckServices:
        """Relying parties: administration, the signed check, the subscriber's side."""
        self._require_initialised()
        return self._checks

    @cached_property
    def _reports(self) -> ReportServices:
        return build_report_services(
            engine=self.engine,
            clock=self.clock,
            settings=self.settings.reports,
            audit_admin=self.privacy_services().audit_admin,
            signer=build_checkpoint_signer(self.key_provider),
            face_engine=self.settings.face_engine,
        )

    def report_services(self) -> ReportServices:
        """Reports and anomaly detection (issue 17)."""
        self._require_initialised()
        return self._reports

    def party_admin(self) -> PartyAdmin:
        return self.check_services().admin

    @cached_property
    def staff_auth(self) -> StaffAuth:
        return StaffAuth(
            self.unit_of_work,
            self.secret_hasher,
            self.token_issuer,
            self.clock,
            Uuid4Ids(),
            self.policy(),
            self.blind_indexer,
            SessionRules(self.settings.idle_lock_minutes, self.settings.session_max_hours),
            self.recent_sign_ins,
        )

    @cached_property
    def recent_sign_ins(self) -> RecentSignIns:
        """The sign-ins this process found usable in the last ``REALNAME_STAFF_CHECK_CACHE_SECONDS``."""
        return RecentSignIns(self.settings.staff_check_cache_seconds)

    # -- process-level operations ---------------------------------------------------------------

    def initialise(self) -> InitReport:
        """Create the data folder (0700) and the witness folder (0700), apply migrations, create the key
        file (0600) for an empty database only, and record (or check) the key fingerprints. Idempotent.

        Raises:
            DependencyUnavailable: ``database.unavailable``; ``keys.missing`` — the database holds data
                but there is no key file (restore it: a new one would make the data unreadable);
                ``keys.mismatch`` — the key file is not the one the data was written with.
        """
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        self.settings.resolved_audit_witness_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        upgrade(self.engine)
        key_file = self.settings.resolved_key_file
        created = False
        if not key_file.exists() and not key_file.is_symlink():
            if self.key_custody.holds_data():
                raise self._missing_keys_of_existing_data()
            created = crypto.ensure_key_file(key_file)
        self.key_custody.record(SYSTEM)
        return InitReport(data_dir, _safe_url(self.settings.resolved_database_url), key_file, created)

    def check_ready(self) -> None:
        """What a server worker checks before it serves: schema current, key file present and matching."""
        self._require_initialised()

    def warm_up(self) -> None:
        """Load the models now (a worker calls this once, after the fork), so the first customer does not
        wait for it; a failure is left to ``/readyz`` to report."""
        try:
            self._check_models()
            self.face_engine()
        except Exception as exc:  # reported by /readyz; the worker still starts
            log.warning("models not loaded at start", extra={"error_type": type(exc).__name__})

    def _missing_keys_of_existing_data(self) -> DependencyUnavailable:
        return DependencyUnavailable(
            f"no key file at {self.settings.resolved_key_file}, but the database holds data written with one; "
            "restore it with `realname keys restore BACKUP` (a new key file would make that data unreadable)",
            code="keys.missing",
        )

    def _require_schema(self) -> None:
        if database_file_missing(self.settings.resolved_database_url):
            raise DependencyUnavailable("no database yet; run `realname init` first", code="database.schema")
        try:
            behind = pending(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
        if behind:
            raise DependencyUnavailable(
                "the database schema is not up to date; run `realname init`", code="database.schema"
            )

    def _require_initialised(self) -> None:
        key_file = self.settings.resolved_key_file
        if not key_file.exists() and database_file_missing(self.settings.resolved_database_url):
            raise DependencyUnavailable(f"no key file at {key_file}; run `realname init` first", code="keys.missing")
        self._require_schema()
        if not key_file.exists() and not key_file.is_symlink():
            if self.key_custody.holds_data():
                raise self._missing_keys_of_existing_data()
            raise DependencyUnavailable(f"no key file at {key_file}; run `realname init` first", code="keys.missing")
        self.key_custody.check()

    def http_services(self) -> HttpServices:
        return HttpServices(
            registry=self.registry(),
            verification=self.verification,
            registration=self.registration,
            owner_services=self.owner_services,
            review=self.review,
            visits=self.visits,
            liveness_streams=self.liveness_streams,
            self_service=self.self_service,
            staff_auth=self.staff_auth,
            policy=self.policy(),
            readiness_checks={
                "database": lambda: check_database(self.engine),
                "keys": self.key_custody.check,
                "models": self._check_models,
            },
            inference_slots=max(1, self.settings.inference_threads),
            party_checks=self.check_services().answering,
            subscriber_checks=self.check_services().subscriber,
            reader_bridge_url=self.settings.reader_bridge_url,
            inference_queue=self.settings.inference_queue,
            metrics=self.metrics,
            reports=self.report_services().reports,
            anomalies=self.report_services().anomalies,
            framing=self.framing_guide,
            stream_relay=self.stream_relay(),
            client_cert_header=self._client_cert_header(),
        )

    def _client_cert_header(self) -> ClientCertHeader | None:
        tls = self.settings.tls
        if tls.client_cert_header is None:
            return None
        return ClientCertHeader.parse(tls.client_cert_header, tls.proxy_addresses)

    def server_tls(
        self, cert_file: Path | None = None, key_file: Path | None = None, client_ca_file: Path | None = None
    ) -> ServerTls | None:
        """The TLS ``serve`` speaks: the settings (``REALNAME_TLS__*``) with what the command line gave instead.

        Raises:
            InvalidInput: ``tls.options_invalid`` (a certificate without its key, a client CA without TLS).
        """
        given = {"cert_file": cert_file, "key_file": key_file, "client_ca_file": client_ca_file}
        tls = self.settings.tls.model_copy(update={k: v.absolute() for k, v in given.items() if v is not None})
        try:
            files = tls.server_files()
        except ValueError as exc:
            raise InvalidInput(str(exc), code="tls.options_invalid") from None
        return None if files is None else ServerTls(*files)

    def demo_container(self, data_dir: Path, random: RandomSource, challenge_actions: int) -> Container:
        """A separate service on ``data_dir`` for ``realname demo`` (its own database, keys and audit witness;
        the same models)."""
        policy = self.settings.policy.model_copy(update={"challenge_actions": challenge_actions})
        settings = self.settings.model_copy(
            update={
                "data_dir": data_dir,
                "database_url": None,
                "key_file": None,
                "audit_witness_dir": None,  # beside the demo's folder: never the real deployment's witness
                "audit_witness_url": None,
                "models_dir": self.settings.resolved_models_dir,
                "policy": policy,
            }
        )
        return Container(settings, clock=self.clock, random=random)

    def _check_models(self) -> None:
        self.onnx_models  # noqa: B018 - loading verifies every model file's hash

    def serve(self, host: str | None, port: int | None, workers: int | None, tls: ServerTls | None = None) -> None:
        import uvicorn

        tls_options = tls.uvicorn_options() if tls is not None else {}
        self.initialise()
        PrivacyJobs(
            self.privacy_services(),
            purge_every_seconds=3600,
            forget_nonces=lambda: self.party_admin().forget_nonces(SYSTEM),
            forget_receipt_copies=self.visits.forget_due_receipt_copies,
        ).start(interval_seconds=30)
        host = host or self.settings.host
        port = port or self.settings.port
        base = f"{'https' if tls else 'http'}://{host}:{port}"
        print(
            f"realname serving on {base}\n  kiosk      {base}/\n  my numbers {base}/me\n  review     {base}/review\n  reports    {base}/reports\n"
            f"  API        {base}/v1\n  API docs   {base}/docs",
            flush=True,
        )
        workers = workers or self.settings.workers
        # Each worker process builds its own container from the environment: tell it how many share the host.
        os.environ["REALNAME_WORKERS"] = str(workers)
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(self._fresh_metrics_dir())
        uvicorn.run(
            "realname.entrypoints.asgi:build_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_worker_healthcheck=self.settings.worker_healthcheck_seconds,
            log_config=None,
            http=HTTP_PROTOCOL,  # uvicorn's h11, telling the app each connection's client certificate
            **tls_options,
        )

    def _fresh_metrics_dir(self) -> Path:
        """Where the workers of this serve write their metrics (emptied: values of a previous run would add up)."""
        folder = self.settings.data_dir / "metrics"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder


def _safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)
