"""The composition root: Settings → adapters → use cases. Nothing is built at import time.

``Container`` builds each dependency once, on first use, so that a command that needs only the
document checker never opens the database or loads a face model.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import sqlalchemy as sa

from realname.adapters.cli.privacy_commands import PrivacyServices
from realname.adapters.cli.registry_commands import InitReport
from realname.adapters.crypto.keyfile import LocalKeyFileProvider
from realname.adapters.documents.regions import load_region_directory
from realname.adapters.http.services import HttpServices
from realname.adapters.storage.attempt_repositories import SqlChallengeStore
from realname.adapters.storage.database import check_database, create_database_engine
from realname.adapters.storage.migrate import pending, upgrade
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.adapters.system import SecretsRandom, SystemClock, Uuid4Ids
from realname.adapters.vision.images import PillowImageDecoder, encode_jpeg
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.attempts import Registration, RegistrationDeps
from realname.app.keys import RewrappingCipher, TokenIssuer
from realname.app.liveness import ImageRgb, LivenessChecker
from realname.app.matching import FaceEngine
from realname.app.ports import BlindIndexer, Clock, RandomSource, SecretHasher, Signer
from realname.app.privacy import keep_evidence
from realname.app.registry import Registry, RegistryDeps
from realname.app.staff_auth import StaffAuth
from realname.bootstrap import crypto
from realname.bootstrap.liveness import build_liveness_checker
from realname.bootstrap.privacy import PrivacyJobs, build_privacy_services, privacy_unit_of_work
from realname.bootstrap.vision import FACE_ENGINE_NAMES, build_face_engine, load_onnx_models
from realname.config import DEV_TOKEN_SECRET, Settings
from realname.domain.errors import DependencyUnavailable
from realname.domain.identity.regions import RegionDirectory
from realname.domain.policy import Policy


class Container:
    """Holds the wired adapters and use cases for one process."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, random: RandomSource | None = None) -> None:
        """``clock`` and ``random`` replace the system's for tests and demos (e.g. a fixed challenge order)."""
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.random: RandomSource = random or SecretsRandom()

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
        return create_database_engine(self.settings.resolved_database_url)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

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
        secret = self.settings.token_secret.get_secret_value()
        source = self.key_provider if secret == DEV_TOKEN_SECRET else secret
        return crypto.build_token_issuer(source, self.settings.token_ttl_minutes)

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
        return Registry(
            RegistryDeps(
                uow=self.unit_of_work,
                clock=self.clock,
                ids=Uuid4Ids(),
                random=self.random,
                policy=self.policy(),
                cipher=self.cipher,
                blind_index=self.blind_indexer,
                hasher=self.secret_hasher,
            )
        )

    def registry(self) -> Registry:
        self._require_initialised()
        return self._registry

    @cached_property
    def registration(self) -> Registration:
        return Registration(
            RegistrationDeps(
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
                keep_evidence=self._keep_evidence,
            )
        )

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
        return build_privacy_services(
            engine=self.engine,
            keys=self.key_provider,
            material=self.key_provider,
            cipher=self.cipher,
            clock=self.clock,
            policy=self.policy(),
            checkpoint_every=self.settings.audit_checkpoint_every,
        )

    def privacy_services(self) -> PrivacyServices:
        self._require_initialised()
        return self._privacy

    @cached_property
    def staff_auth(self) -> StaffAuth:
        return StaffAuth(self.unit_of_work, self.secret_hasher, self.token_issuer, self.clock)

    # -- process-level operations ---------------------------------------------------------------

    def initialise(self) -> InitReport:
        """Create the data folder (0700), the key file (0600) and apply migrations. Idempotent."""
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        created = crypto.ensure_key_file(self.settings.resolved_key_file)
        upgrade(self.engine)
        return InitReport(
            data_dir, _safe_url(self.settings.resolved_database_url), self.settings.resolved_key_file, created
        )

    def _require_initialised(self) -> None:
        if not self.settings.resolved_key_file.exists():
            raise DependencyUnavailable(
                f"no key file at {self.settings.resolved_key_file}; run `realname init` first", code="keys.missing"
            )
        try:
            behind = pending(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
        if behind:
            raise DependencyUnavailable(
                "the database schema is not up to date; run `realname init`", code="database.schema"
            )

    def http_services(self) -> HttpServices:
        return HttpServices(
            registry=self.registry(),
            registration=self.registration,
            staff_auth=self.staff_auth,
            policy=self.policy(),
            readiness_checks={
                "database": lambda: check_database(self.engine),
                "keys": self._check_keys,
                "models": self._check_models,
            },
            inference_slots=max(1, self.settings.inference_threads),
        )

    def demo_container(self, data_dir: Path, random: RandomSource, challenge_actions: int) -> Container:
        """A separate service on ``data_dir`` for ``realname demo`` (its own database and keys, same models)."""
        policy = self.settings.policy.model_copy(update={"challenge_actions": challenge_actions})
        settings = self.settings.model_copy(
            update={
                "data_dir": data_dir,
                "database_url": None,
                "key_file": None,
                "models_dir": self.settings.resolved_models_dir,
                "policy": policy,
            }
        )
        return Container(settings, clock=self.clock, random=random)

    def _check_keys(self) -> None:
        self.key_provider.current_kek_version()

    def _check_models(self) -> None:
        self.onnx_models  # noqa: B018 - loading verifies every model file's hash

    def serve(self, host: str | None, port: int | None, workers: int | None) -> None:
        import uvicorn

        self.initialise()
        PrivacyJobs(self.privacy_services(), purge_every_seconds=3600).start(interval_seconds=30)
        host = host or self.settings.host
        port = port or self.settings.port
        base = f"http://{host}:{port}"
        print(
            f"realname serving on {base}\n  kiosk      {base}/\n  my numbers {base}/me\n  review     {base}/review\n"
            f"  API        {base}/v1\n  API docs   {base}/docs",
            flush=True,
        )
        uvicorn.run(
            "realname.entrypoints.asgi:build_app",
            factory=True,
            host=host,
            port=port,
            workers=workers or self.settings.workers,
            log_config=None,
        )


def _safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)
