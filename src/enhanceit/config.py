"""Configuration: one validated :class:`Settings`, composed of one sub-model per component.

Sources, strongest first: keyword arguments, ``ENHANCEIT_*`` environment variables, the YAML file named by
``ENHANCEIT_CONFIG`` (or ``config.yaml`` in the working folder, if present), then the defaults below, which
run a complete service on one machine with nothing else installed.

A sub-model's fields are read from ``ENHANCEIT_<COMPONENT>_<FIELD>``: ``ENHANCEIT_ENGINE_THREADS``,
``ENHANCEIT_LIMITS_MAX_INPUT_PIXELS``, ``ENHANCEIT_S3_BUCKET``. In YAML they nest::

    engine:
      threads: 2
    limits:
      max_input_pixels: 16000000

Settings are built once by :func:`get_settings` and passed down; nothing reads the environment at import.
"""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

if TYPE_CHECKING:
    from enhanceit.hostnames import HostRule


def default_models_dir() -> Path:
    """Where converted models live unless ``ENHANCEIT_MODELS_DIR`` says otherwise:
    ``<prefix>/share/enhanceit/models``.

    Inside the Python environment, like the pinned weight packages: ``make install`` fills the venv's,
    a container image bakes them into its own, and every data folder of that environment finds them.
    """
    return Path(sys.prefix) / "share" / "enhanceit" / "models"


def default_cache_dir() -> Path:
    """Where compiled networks and measured engine choices are kept unless ``ENHANCEIT_ENGINE_CACHE_DIR``
    says otherwise: ``$XDG_CACHE_HOME/enhanceit``, else ``~/.cache/enhanceit`` (in the images, whose user's
    home is the data folder, ``/data/.cache/enhanceit``). Losing it costs one compile per net."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "enhanceit"


#: A list given in the environment as comma-separated words (``a.example,b.example``).
CommaList = Annotated[list[str], NoDecode]


def split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class EngineSettings(BaseModel):
    threads: int = Field(0, ge=0, description="CPU threads per inference; 0 = all cores")
    gpu: int | None = Field(None, ge=0, description="Vulkan device index; unset = CPU")
    memory_budget_mb: int = Field(
        400,
        ge=128,
        description="peak process memory: sets the tile size, and loaded networks count against it",
    )
    tile: int = Field(0, ge=0, description="force a tile side for every model (0 = per-model default)")
    max_loaded: int = Field(4, ge=1, description="networks kept in memory; older ones are unloaded")
    parallel_tiles: bool = Field(
        True, description="ncnn: run independent tiles at once, one thread each (false: one tile, every thread)"
    )
    backend: Literal["auto", "ncnn", "openvino"] = Field(
        "auto", description="auto: OpenVINO where it runs bf16, else the faster of the two, measured once per net"
    )
    precision: Literal["auto", "bf16", "f32"] = Field(
        "auto", description="auto: bf16 where the CPU has AMX-BF16 or AVX512-BF16 (OpenVINO only), else f32"
    )
    cache_dir: Path | None = Field(
        None, description="compiled networks and measured backend choices (default: ~/.cache/enhanceit)"
    )

    @model_validator(mode="after")
    def _backend_can_do_it(self) -> EngineSettings:
        if self.precision == "bf16" and (self.backend == "ncnn" or self.gpu is not None):
            raise ValueError("bf16 runs on OpenVINO on the CPU only (not on ncnn, not with a GPU)")
        if self.backend == "openvino" and self.gpu is not None:
            raise ValueError("a GPU runs on ncnn's Vulkan path, not on OpenVINO")
        return self


class LimitSettings(BaseModel):
    max_input_pixels: int = Field(40_000_000, ge=1, description="largest input, read from its header")
    max_output_pixels: int = Field(
        134_217_728, ge=1, description="input pixels x scale² x TTA level may not exceed this"
    )
    max_whole_frame_pixels: int = Field(
        16_777_216,
        ge=1,
        description="largest WebP/AVIF/GIF output (their encoders hold the whole frame); "
        "an animated WebP counts frames x width x height",
    )
    max_frames: int = Field(300, ge=1, description="most frames of an animation, read from its header")
    max_scratch_bytes: int = Field(
        1 << 30,
        ge=1 << 20,
        description="scratch disk one job may need (decoded input, the passes' rasters, an animation's frames), "
        "counted from the header",
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1, description="largest upload or download")
    max_json_bytes: int = Field(
        64 * 1024, ge=1024, description="largest JSON request body (parameters only: parsing costs ~20x its size)"
    )


class FetchSettings(BaseModel):
    """Downloading ``image_url``: the SSRF policy and its deadlines."""

    allow_private: bool = Field(
        False, description="allow loopback/private/link-local targets: development and tests only"
    )
    allow_hosts: CommaList = Field(
        default_factory=list, description="if set, only these hosts (and their subdomains with a leading '.')"
    )
    deny_hosts: CommaList = Field(default_factory=list, description="never these hosts (same syntax)")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(10.0, gt=0, description="longest wait for the next bytes")
    total_timeout: float = Field(30.0, gt=0, description="the whole download, redirects included")
    max_redirects: int = Field(3, ge=0, le=10)
    user_agent: str = "EnhanceIt/0.1 (image enhancement service)"

    _split = field_validator("allow_hosts", "deny_hosts", mode="before")(split_commas)
    #: The two lists parsed once, when the settings are validated: a bad entry fails at start, and no request
    #: parses them again. Settings are not changed after they are built (``model_copy(update=...)`` would
    #: leave these behind).
    _allow_rules: tuple[HostRule, ...] = PrivateAttr(default=())
    _deny_rules: tuple[HostRule, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _parse_host_lists(self) -> FetchSettings:
        from enhanceit.hostnames import host_rules

        self._allow_rules = host_rules(self.allow_hosts)
        self._deny_rules = host_rules(self.deny_hosts)
        return self

    @property
    def allow_rules(self) -> tuple[HostRule, ...]:
        """``allow_hosts``, parsed (empty: any host the address check lets through)."""
        return self._allow_rules

    @property
    def deny_rules(self) -> tuple[HostRule, ...]:
        """``deny_hosts``, parsed."""
        return self._deny_rules


#: The names of ``enhanceit.storage.BACKENDS``, spelled here for the settings' schema: config sits below the
#: storage package and may not import it. A test checks that the two agree.
StorageName = Literal["local", "s3", "gcs"]


class S3Settings(BaseModel):
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; unset (or empty) = AWS")
    bucket: str = "enhanceit"
    region: str | None = None
    prefix: str = "results/"

    @field_validator("endpoint_url", "region", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value


class GcsSettings(BaseModel):
    bucket: str = "enhanceit"
    prefix: str = "results/"
    #: Service account that signs URLs through IAM when the credentials hold no private key (Cloud Run).
    signer_email: str | None = None


class JobSettings(BaseModel):
    """Running jobs in this process (the embedded mode) and how long a request waits for one."""

    max_concurrent: int = Field(1, ge=1, description="jobs run at once; each uses every core it is given")
    max_queue: int = Field(16, ge=0, description="jobs waiting beyond that; more get 429 with Retry-After")
    sync_wait_seconds: float = Field(30.0, ge=0, description="how long POST /v1/enhance waits by default")
    max_wait_seconds: float = Field(300.0, ge=0, description="the longest 'Prefer: wait=N' honoured")
    timeout_seconds: float = Field(
        600.0, gt=0, description="one try of a job running longer fails (waits between tries do not count)"
    )
    keep_seconds: int = Field(7 * 86_400, ge=3600, description="job records are forgotten this long after creation")
    deadline_seconds: float = Field(
        3600.0, gt=0, description="an accepted job not finished this long after submission fails (waits included)"
    )
    lease_seconds: float = Field(
        30.0, gt=0, description="a running job whose worker has not renewed its lease this long is run again"
    )
    reap_seconds: float = Field(10.0, gt=0, description="how often workers look for lapsed leases and lost jobs")
    max_claims: int = Field(
        3, ge=1, description="a job claimed this often without ending (its runs stopped their workers) fails"
    )
    retry_min_seconds: float = Field(1.0, gt=0, description="first wait before retrying a transient fault")
    retry_max_seconds: float = Field(30.0, gt=0, description="longest wait between retries of a transient fault")


class BatchSettings(BaseModel):
    """``POST /v1/batches``: several images at once, each an ordinary job."""

    max_items: int = Field(
        100,
        ge=1,
        le=10_000,
        description="most items one batch may hold (all must fit in the queue at once: see jobs.max_queue and "
        "queue.max_depth)",
    )


class QueueSettings(BaseModel):
    """The distributed mode: Dramatiq on Redis. Unset ``url`` = jobs run inside the API process."""

    url: str | None = Field(None, description="redis://… to send jobs to 'enhanceit worker' processes")
    name: str = "enhance"
    max_depth: int = Field(100, ge=1, description="queued jobs beyond this get 429 with Retry-After")
    worker_processes: int = Field(1, ge=1, description="processes 'enhanceit worker' starts")
    worker_threads: int = Field(1, ge=1, description="jobs each worker process runs at once")
    max_retries: int = Field(
        3,
        ge=0,
        description="Dramatiq re-deliveries of a job whose run ended on a transient fault (the runner itself "
        "waits faults out until the job's deadline; no re-delivery starts after it; other failures are final)",
    )
    heartbeat_timeout_ms: int = Field(10_000, ge=1000, description="a worker silent this long is presumed dead")


#: A preset's name: it stands in a URL path (``p:NAME``) and in a JSON field as it is.
PRESET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class UrlSettings(BaseModel):
    """Signed processing URLs, ``GET /v1/u/{signature}/{options}/{source}`` (see :mod:`enhanceit.signedurls`)."""

    key: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="HMAC-SHA256 keys, comma-separated, at least 16 characters each: the first signs, every one "
        "is accepted (to rotate, put the new key first and drop the old one later); none = the route answers 404",
    )
    signature_size: int = Field(
        32, ge=8, le=32, description="bytes of the HMAC a URL's signature keeps (as imgproxy's signature size)"
    )
    freshness_seconds: int = Field(
        86_400,
        ge=60,
        description="a URL's result is served this long (never past its expiry) before the source is fetched again",
    )
    allow_unsigned: bool = Field(
        False,
        description="DANGEROUS, for development only: accept '_' instead of a signature, so that ANYONE can make "
        "this server fetch any image and spend its CPU enhancing it with any options",
    )

    _split = field_validator("key", mode="before")(split_commas)

    @field_validator("key")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(k.get_secret_value()) < 16 for k in keys):
            raise ValueError("each key needs at least 16 characters (e.g. the output of 'openssl rand -hex 32')")
        return keys


class PresetSettings(BaseModel):
    """Named option sets: ``ENHANCEIT_PRESETS='{"thumb2x": {"model": "photo", "scale": 2}}'``, a JSON or YAML
    file of the same shape, or in the YAML config under ``presets:``. Every key but ``file`` and ``only`` names
    a preset. Each is checked as a request's options when the service starts (:mod:`enhanceit.presets`):
    the options sit above the settings and cannot be imported here."""

    model_config = ConfigDict(extra="allow")

    file: Path | None = Field(None, description="a JSON or YAML file of more presets: {name: {option: value}}")
    only: bool = Field(
        False,
        description="signed URLs may only name presets (p:NAME) and no other option, so that a leaked signature "
        "cannot ask for more work than a preset does",
    )

    @model_validator(mode="after")
    def _shapes(self) -> PresetSettings:
        for name, options in self.named.items():
            if not PRESET_NAME.fullmatch(name):
                raise ValueError(f"preset name {name!r}: letters, digits, '_' and '-' only, at most 64")
            if not isinstance(options, dict):
                raise ValueError(f"preset {name!r}: a mapping of options, such as {{'scale': 2}}")
        return self

    @property
    def named(self) -> dict[str, Any]:
        """The presets given here (not the file's), by name."""
        return dict(self.model_extra or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENHANCEIT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    data_dir: Path = Field(Path("data"), description="local storage, job database and converted models")
    models_dir: Path | None = Field(None, description="converted models (default: <venv>/share/enhanceit/models)")
    tmp_dir: Path | None = Field(None, description="scratch space for rasters (default: system temp)")
    models_enable: CommaList = Field(
        default_factory=list,
        description="model ids whose weights' licence restricts hosted use, enabled anyway (see 'models list')",
    )
    engine: EngineSettings = EngineSettings()
    limits: LimitSettings = LimitSettings()
    fetch: FetchSettings = FetchSettings()
    storage: StorageName = Field("local", description="where results go")
    s3: S3Settings = S3Settings()
    gcs: GcsSettings = GcsSettings()
    retention_seconds: int = Field(86_400, ge=60, description="results are deleted this long after creation")
    public_url: str | None = Field(None, description="base URL clients reach the service at (for /files links)")
    signing_key: SecretStr | None = Field(
        None, description="HMAC key for local file URLs; unset = generated once into DATA_DIR/.signing-key"
    )
    jobs: JobSettings = JobSettings()
    batches: BatchSettings = BatchSettings()
    queue: QueueSettings = QueueSettings()
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="bearer tokens clients must send; empty = no authentication"
    )
    rate_limit_per_minute: int = Field(60, ge=1, description="requests per minute and API key")
    urls: UrlSettings = UrlSettings()
    presets: PresetSettings = PresetSettings()
    webhook_secret: SecretStr | None = Field(
        None, description="signs webhooks; unset = generated once into DATA_DIR/.webhook-secret"
    )
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"

    _split_keys = field_validator("api_keys", "models_enable", mode="before")(split_commas)

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or default_models_dir()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


def config_file() -> Path | None:
    named = os.environ.get("ENHANCEIT_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"ENHANCEIT_CONFIG names {path}, which does not exist")
        return path
    default = Path("config.yaml")
    return default if default.is_file() else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def load_settings(**overrides: Any) -> Settings:
    """Fresh settings (no cache), e.g. for tests and the CLI's overrides."""
    return Settings(**overrides)
