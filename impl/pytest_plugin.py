"""The implementations under test, for one pytest run: the run's registry and the `cases`
marker that parametrizes a check over a selection of it.

`pytest tests/checks --impl pkg.mod:softmax` adds a user function: a softmax `f(x, axis=-1)` or
`f(x, dim=-1)` on numpy arrays or torch tensors, or an attention with the calling convention of
torch's scaled_dot_product_attention. The seam (impl/loading.py) learns its kind, backend and
keyword from its signature and one tiny probe, the same way the conformance command does; it is
registered as `user-<function name>` (a softmax with tags {"row-wise", "stable", "user"}) and
every call goes through impl/calling.py. Every check whose selection matches runs on it; it is
in no claim's scope (impl/selections.py), so it never changes an article verdict. `--impl` may
also name an Implementation object (any role).

Installed packages can offer implementations through the entry-point group
`softmax_claimcheck.implementations`; each entry point resolves to a softmax function (registered
as `user-<entry point name>`) or to an Implementation.

Like claimcheck's plugin, this one does nothing in a run that did not opt in. Anything wrong with
an --impl or an entry point stops the run with a pytest UsageError that names the problem, before
any check runs.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pytest

from softmax_claimcheck.impl.loading import (
    DEVICES_HELP,
    Callee,
    LoadError,
    RegistryFunction,
    learn,
    load,
    unknown_devices,
)
from softmax_claimcheck.impl.model import ALL_DTYPES, NUMPY_DTYPES, ImplCase, Implementation

if TYPE_CHECKING:
    from softmax_claimcheck.impl.registry import Registry

ENTRY_POINT_GROUP = "softmax_claimcheck.implementations"
USER_TAGS = frozenset({"row-wise", "stable", "user"})
ROLES = ("softmax", "log-softmax", "normalizer", "attention")
CASES_MARKER = "cases"
SIGNIFICAND_BITS = {"float64": 53, "float32": 24, "float16": 11, "bfloat16": 8}
REGISTRY_KEY = pytest.StashKey["Registry"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("claimcheck").addoption(
        "--impl",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="also check this softmax f(x, axis) or f(x, dim), attention with the calling "
        "convention of torch's scaled_dot_product_attention, or Implementation (repeatable)",
    )
    group = parser.getgroup("claimcheck")
    group.addoption(
        "--impl-dtypes",
        metavar="DTYPES",
        help="comma-separated dtypes the --impl implementations support (default: all of the "
        "backend's)",
    )
    group.addoption(
        "--impl-devices", metavar="DEVICES", help="comma-separated devices they support"
    )
    group.addoption(
        "--impl-fully-masked",
        choices=("nan", "zeros", "uniform"),
        help="what they promise for a fully masked row (recorded as a tag)",
    )


def _opted_in(config: pytest.Config) -> bool:
    from softmax_claimcheck.claimcheck.plugin import opted_in

    return opted_in(config) or bool(config.getoption("impl"))


def pytest_configure(config: pytest.Config) -> None:
    """Build the run's registry before collection: the checks' parametrization reads it."""
    if not _opted_in(config):
        return
    config.addinivalue_line(
        "markers",
        f"{CASES_MARKER}(selection=None, *, ids=None, dtypes=..., devices=..., backend=None): "
        "run this check on every implementation case of a selection (impl/selections.py)",
    )
    declared = _declared(config)
    found = [from_option(spec, **declared) for spec in config.getoption("impl") or []]
    found += [from_entry_point(ep) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    from softmax_claimcheck.impl.registry import Registry

    registry = Registry.builtin()
    ids = [i.id for i in found]
    clashes = sorted({i for i in ids if ids.count(i) > 1 or i in registry})
    if clashes:
        raise pytest.UsageError(
            f"implementation id(s) already taken: {', '.join(clashes)}; "
            "give the functions distinct names"
        )
    config.stash[REGISTRY_KEY] = registry.with_added(found)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """`pytest --impl X` that collected nothing (an empty folder, no checkout): say where the
    article's checks are instead of ending with exit 5 and no word about --impl."""
    specs = config.getoption("impl", None) or []
    if not specs or exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED:
        return
    impl = " ".join(f"--impl {s}" for s in specs)
    terminalreporter.write_line(
        f"--impl: no check was collected here, so nothing judged {', '.join(specs)}. The "
        f"article's checks ship with the package: run `softmax-claimcheck check {impl}` "
        "(pytest options may follow), or `pytest tests/checks "
        f"{impl}` in a checkout; `softmax-claimcheck conform {specs[0]}` judges it by the "
        "conformance properties.",
        yellow=True,
        bold=True,
    )


# -- what the engine learns about implementations (claimcheck/hookspecs.py) ---------------------
@pytest.hookimpl(optionalhook=True)
def pytest_claimcheck_scope_members(config: pytest.Config, scope: str) -> frozenset[str] | None:
    registry = config.stash.get(REGISTRY_KEY, None)
    return None if registry is None else registry.scope_members(scope)


@pytest.hookimpl(optionalhook=True)
def pytest_claimcheck_scope_known(config: pytest.Config, scope: str) -> bool | None:
    from softmax_claimcheck.impl.registry import known_scope

    return known_scope(scope) if REGISTRY_KEY in config.stash else None


@pytest.hookimpl(optionalhook=True)
def pytest_claimcheck_check_subject(config: pytest.Config, name: str, value: Any) -> Any:
    """An implementation case: its labels, its id (scope) and its dtype's precision."""
    if not isinstance(value, ImplCase):
        return None
    from softmax_claimcheck.claimcheck.hookspecs import CheckSubject

    return CheckSubject(value.impl.id, value.labels(), SIGNIFICAND_BITS.get(value.dtype))


def _declared(config: pytest.Config) -> dict[str, Any]:
    def split(name: str) -> tuple[str, ...] | None:
        value = config.getoption(name, None)
        return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None

    dtypes = split("impl_dtypes")
    unknown = sorted(set(dtypes or ()) - set(ALL_DTYPES))
    if unknown:
        raise pytest.UsageError(f"--impl-dtypes: unknown dtype(s) {', '.join(unknown)}")
    devices = split("impl_devices")
    unknown = unknown_devices(devices or ())
    if unknown:
        raise pytest.UsageError(
            f"--impl-devices: unknown device(s) {', '.join(unknown)}; {DEVICES_HELP}"
        )
    return {
        "dtypes": dtypes,
        "devices": devices,
        "fully_masked": config.getoption("impl_fully_masked", None),
    }


def registry_of(config: pytest.Config) -> Registry:
    try:
        return config.stash[REGISTRY_KEY]
    except KeyError:
        raise pytest.UsageError(
            "implementation checks need a claims run (ini claimcheck_claims_dir, --claims-dir "
            "or --impl)"
        ) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`@pytest.mark.cases("selection", dtypes=..., ...)` parametrizes the check's `case`.
    Only in a run that opted in: another project's own `cases` marker is its own."""
    if REGISTRY_KEY not in metafunc.config.stash:
        return
    marker = metafunc.definition.get_closest_marker(CASES_MARKER)
    if marker is None:
        return
    if "case" not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.cases needs a `case` argument"
        )
    registry = registry_of(metafunc.config)
    try:
        params = registry.cases(*marker.args, **marker.kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    metafunc.parametrize("case", params)


@pytest.fixture
def implementations(request: pytest.FixtureRequest) -> Registry:
    """The run's registry (the built-ins and the user's), for checks that look one up by id."""
    return registry_of(request.config)


# -- resolving (through the seam: impl/loading.py) -----------------------------------------------
def from_option(spec: str, **declared: Any) -> Implementation:
    """`package.module:function` (or `:ImplementationObject`) -> a registrable Implementation."""
    try:
        target, name = load(spec)
    except LoadError as exc:
        raise pytest.UsageError(f"--impl {exc}") from None
    return resolve(target, f"--impl {spec}", default_name=name, **declared)


def from_entry_point(ep: EntryPoint) -> Implementation:
    where = f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP}"
    try:
        target, _ = load(f"{ep.module}:{ep.attr or ''}")
    except LoadError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    return resolve(target, where, default_name=ep.name, prefer_given_name=True)


def resolve(
    target: Any,
    where: str,
    *,
    default_name: str,
    prefer_given_name: bool = False,
    dtypes: tuple[str, ...] | None = None,
    devices: tuple[str, ...] | None = None,
    fully_masked: str | None = None,
) -> Implementation:
    """An Implementation is taken as it is; a function is learned by the seam (kind, backend,
    calling convention: impl/loading.py) and registered as `user-<name>`. What the user
    declares (dtypes, devices, fully-masked behaviour) narrows it."""
    if isinstance(target, Implementation):
        if target.role not in ROLES:
            raise pytest.UsageError(
                f"{where}: role {target.role!r} is not one of {', '.join(ROLES)}"
            )
        return target
    name = default_name if prefer_given_name else getattr(target, "__name__", default_name)
    try:
        callee = learn(target, name)
    except LoadError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    return _narrowed(user_implementation(callee), dtypes, devices, fully_masked)


def user_implementation(callee: Callee) -> Implementation:
    """The registry entry for a user's function: every device and dtype of its backend."""
    numpy = callee.backend == "numpy"
    module = getattr(callee.fn, "__module__", "?")
    if callee.kind == "attention":
        description = f"user attention {module}.{callee.name} (SDPA's calling convention)"
        tags = frozenset({"masking", "user"})
    else:
        description = f"user implementation {module}.{callee.name} ({callee.backend})"
        tags = USER_TAGS
    return Implementation(
        f"user-{callee.name}",
        callee.kind,
        callee.backend,
        RegistryFunction(callee),
        ("cpu",) if numpy else ("cpu", "cuda"),
        NUMPY_DTYPES if numpy else ALL_DTYPES,
        description,
        tags,
    )


def _narrowed(
    implementation: Implementation,
    dtypes: tuple[str, ...] | None,
    devices: tuple[str, ...] | None,
    fully_masked: str | None,
) -> Implementation:
    from dataclasses import replace

    changes: dict[str, Any] = {}
    if dtypes:
        changes["dtypes"] = tuple(d for d in implementation.dtypes if d in dtypes)
    if devices:
        changes["devices"] = tuple(d for d in implementation.devices if d in devices)
    if fully_masked:
        changes["tags"] = implementation.tags | {f"fully-masked-{fully_masked}"}
    return replace(implementation, **changes) if changes else implementation
