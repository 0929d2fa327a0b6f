"""The implementations under test, for one pytest run: the run's registry and the `cases`
marker that parametrizes a check over a selection of it.

`pytest tests/checks --impl pkg.mod:softmax` adds a user function: a softmax `f(x, axis=-1)` or
`f(x, dim=-1)` on numpy arrays or torch tensors. It is probed once with a tiny input to learn its
keyword and backend (numpy if it takes numpy arrays, else torch), then registered as
`user-<function name>` with role softmax and tags {"row-wise", "stable", "user"}, so every check
whose selection matches runs on it; it is in no claim's scope (impl/selections.py), so it never
changes an article verdict. `--impl` may also name an Implementation object (any role).

Installed packages can offer implementations through the entry-point group
`softmax_claimcheck.implementations`; each entry point resolves to a softmax function (registered
as `user-<entry point name>`) or to an Implementation.

Like claimcheck's plugin, this one does nothing in a run that did not opt in. Anything wrong with
an --impl or an entry point stops the run with a pytest UsageError that names the problem, before
any check runs.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from softmax_claimcheck.impl.model import ALL_DTYPES, NUMPY_DTYPES, Implementation
from softmax_claimcheck.impl.returns import checked_return

if TYPE_CHECKING:
    from softmax_claimcheck.impl.registry import Registry

ENTRY_POINT_GROUP = "softmax_claimcheck.implementations"
USER_TAGS = frozenset({"row-wise", "stable", "user"})
ROLES = ("softmax", "log-softmax", "normalizer", "attention")
PROBE = [[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]]  # two rows: a (2, 3) output is expected back
CASES_MARKER = "cases"
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
    from softmax_claimcheck.impl.registry import Registry, known_scope

    registry = Registry.builtin()
    ids = [i.id for i in found]
    clashes = sorted({i for i in ids if ids.count(i) > 1 or i in registry})
    if clashes:
        raise pytest.UsageError(
            f"implementation id(s) already taken: {', '.join(clashes)}; "
            "give the functions distinct names"
        )
    registry = registry.with_added(found)
    config.stash[REGISTRY_KEY] = registry
    from softmax_claimcheck.claimcheck.plugin import RUN_KEY

    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.scope_members = registry.scope_members
        run.known_scope = known_scope


def _declared(config: pytest.Config) -> dict[str, Any]:
    def split(name: str) -> tuple[str, ...] | None:
        value = config.getoption(name, None)
        return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None

    dtypes = split("impl_dtypes")
    unknown = sorted(set(dtypes or ()) - set(ALL_DTYPES))
    if unknown:
        raise pytest.UsageError(f"--impl-dtypes: unknown dtype(s) {', '.join(unknown)}")
    return {
        "dtypes": dtypes,
        "devices": split("impl_devices"),
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


# -- resolving ----------------------------------------------------------------------------------
def from_option(spec: str, **declared: Any) -> Implementation:
    """`package.module:function` (or `:ImplementationObject`) -> a registrable Implementation."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise pytest.UsageError(f"--impl {spec}: expected package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise pytest.UsageError(
            f"--impl {spec}: cannot import module {module_name!r}: {exc}"
        ) from None
    except SystemExit as exc:  # a module that exits on import: one line, not an INTERNALERROR
        raise pytest.UsageError(
            f"--impl {spec}: importing {module_name!r} called sys.exit({exc.code!r})"
        ) from None
    except Exception as exc:
        raise pytest.UsageError(
            f"--impl {spec}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise pytest.UsageError(
                f"--impl {spec}: module {module_name!r} has no attribute {attribute!r}"
            )
        target = getattr(target, part)
    return resolve(target, f"--impl {spec}", default_name=attribute.rsplit(".", 1)[-1], **declared)


def from_entry_point(ep: EntryPoint) -> Implementation:
    where = f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP}"
    try:
        target = ep.load()
    except SystemExit as exc:
        raise pytest.UsageError(f"{where}: loading it called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise pytest.UsageError(f"{where}: loading it raised {type(exc).__name__}: {exc}") from None
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
    """An Implementation is taken as it is; a callable with the calling convention of torch's
    scaled_dot_product_attention becomes an attention; any other callable is probed as a
    softmax. What the user declares (dtypes, devices, fully-masked behaviour) narrows it."""
    if isinstance(target, Implementation):
        if target.role not in ROLES:
            raise pytest.UsageError(
                f"{where}: role {target.role!r} is not one of {', '.join(ROLES)}"
            )
        return target
    if not callable(target):
        raise pytest.UsageError(
            f"{where}: {type(target).__name__} object is not callable; expected a softmax "
            "function f(x, axis=-1) or f(x, dim=-1), or an Implementation"
        )
    name = default_name if prefer_given_name else getattr(target, "__name__", default_name)
    if _looks_like_attention(target, name):
        implementation = user_attention(target, name, where)
    else:
        implementation = user_softmax(target, name, where)
    return _narrowed(implementation, dtypes, devices, fully_masked)


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


# -- attention with SDPA's calling convention -----------------------------------------------------
def _looks_like_attention(fn: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return "attention" in name.lower()
    names = set(parameters)
    required = [
        p
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return (
        {"query", "key", "value"} <= names
        or {"attn_mask", "is_causal"} & names != set()
        or len(required) >= 3
    )


def user_attention(fn: Callable[..., Any], name: str, where: str) -> Implementation:
    """An attention f(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
    scale=None, enable_gqa=False), adapted to the registry's fn(q, k, v, *, allowed=None,
    causal=False): keywords only after value, never attn_mask with is_causal=True, boolean mask
    True = may attend. torch tensors only (SDPA's convention)."""

    def attention(q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False) -> Any:
        if allowed is None:
            kwargs: dict[str, Any] = {"is_causal": True} if causal else {}
        else:
            import torch

            mask = allowed
            if causal:
                n, m = q.shape[-2], k.shape[-2]
                mask = mask & torch.ones(n, m, dtype=torch.bool, device=q.device).tril()
            kwargs = {"attn_mask": mask}
        out = _as_the_implementations(fn, q, k, v, **kwargs)
        return checked_return(out, q, (*q.shape[:-1], v.shape[-1]))

    attention.__name__ = getattr(fn, "__name__", "attention")
    attention.__doc__ = fn.__doc__
    attention.__wrapped__ = fn  # type: ignore[attr-defined]
    import torch

    q = torch.zeros(1, 2, 4, dtype=torch.float64)
    try:
        out = _as_the_implementations(fn, q, q, q)
    except AssertionError as exc:
        raise pytest.UsageError(f"{where}: probe failed: {exc}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 2, 4):
        raise pytest.UsageError(
            f"{where}: probe failed: an attention on q, k, v of shape (1, 2, 4) returned "
            f"{type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))}"
        )
    return Implementation(
        f"user-{name}",
        "attention",
        "torch",
        attention,
        ("cpu", "cuda"),
        ALL_DTYPES,
        f"user attention {getattr(fn, '__module__', '?')}.{name} (SDPA's calling convention)",
        frozenset({"masking", "user"}),
    )


def _as_the_implementations(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the user's code: its warnings are its behaviour (never errors of the run), and an
    exception or sys.exit is a failure of the implementation (an AssertionError naming it), not
    a crash of the harness."""
    import warnings

    from softmax_claimcheck.claimcheck.hard_timeout import CheckTimedOut
    from softmax_claimcheck.claimcheck.outcomes import ImplementationFailure, ImplementationTimedOut
    from softmax_claimcheck.claimcheck.process_guard import ProcessExitAttempt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except SystemExit as exc:
            raise ImplementationFailure(
                f"the implementation called sys.exit({exc.code!r})"
            ) from None
        except ProcessExitAttempt as exc:
            raise ImplementationFailure(f"the implementation {exc}") from None
        except CheckTimedOut as exc:
            raise ImplementationTimedOut(f"the implementation did not return: {exc}") from None
        except pytest.fail.Exception as exc:
            if not str(exc).startswith("Timeout"):  # pytest-timeout's signal method
                raise
            raise ImplementationTimedOut(f"the implementation did not return: {exc}") from None
        except (AssertionError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if type(exc).__name__ == "NotSupported":
                raise
            raise ImplementationFailure(
                f"the implementation raised {type(exc).__name__}: {exc}"
            ) from exc


# -- probing ------------------------------------------------------------------------------------
def user_softmax(fn: Callable[..., Any], name: str, where: str) -> Implementation:
    keyword = axis_keyword(fn, where)
    adapted = _adapt(fn, keyword)
    backend = probe_backend(adapted, where)
    return Implementation(
        f"user-{name}",
        "softmax",
        backend,
        adapted,
        ("cpu",) if backend == "numpy" else ("cpu", "cuda"),
        NUMPY_DTYPES if backend == "numpy" else ALL_DTYPES,
        f"user implementation {getattr(fn, '__module__', '?')}.{name} ({backend})",
        USER_TAGS,
    )


def axis_keyword(fn: Callable[..., Any], where: str) -> str | None:
    """'axis' or 'dim', whichever the function takes; None when its signature is unreadable
    (a C function), in which case the probe tries both."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    required = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    keyword = next((k for k in ("axis", "dim") if k in parameters), None)
    if keyword is not None and len(set(required) - {keyword}) <= 1:
        return keyword
    if (
        keyword is None
        and len(required) <= 1
        and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    ):
        return None
    raise pytest.UsageError(
        f"{where}: wrong signature {_name(fn)}{inspect.signature(fn)}; a softmax must take "
        "the array and an `axis` or `dim` keyword: f(x, axis=-1) or f(x, dim=-1)"
    )


def _adapt(fn: Callable[..., Any], keyword: str | None) -> Callable[..., Any]:
    """fn as the registry calls softmaxes: fn(x, axis=...)."""

    def softmax(x: Any, axis: int = -1) -> Any:
        if keyword is not None:
            return checked_return(_as_the_implementations(fn, x, **{keyword: axis}), x)
        try:
            return checked_return(_as_the_implementations(fn, x, axis=axis), x)
        except AssertionError as exc:
            if not isinstance(exc.__cause__, TypeError):
                raise
            return checked_return(_as_the_implementations(fn, x, dim=axis), x)

    softmax.__name__ = getattr(fn, "__name__", "softmax")
    softmax.__doc__ = fn.__doc__
    softmax.__wrapped__ = fn  # type: ignore[attr-defined]
    return softmax


def probe_backend(fn: Callable[..., Any], where: str) -> str:
    """Call fn once on a tiny numpy array, else on a torch tensor: the first that returns an
    array of its own kind and of the input's shape names the backend."""
    import torch

    inputs: dict[str, Any] = {
        "numpy": np.asarray(PROBE),
        "torch": torch.tensor(PROBE, dtype=torch.float64),
    }
    kinds = {"numpy": "a numpy array", "torch": "a torch tensor"}
    failures = []
    for backend, x in inputs.items():
        try:
            with np.errstate(all="ignore"):
                out = fn(x, axis=-1)
        except AssertionError as exc:
            failures.append(
                f"on {kinds[backend]} it {str(exc).removeprefix('the implementation ')}"
            )
            continue
        kind_ok = isinstance(out, torch.Tensor) == (backend == "torch")
        shape = tuple(getattr(out, "shape", ()))
        if kind_ok and shape == tuple(x.shape):
            return backend
        failures.append(
            f"on {kinds[backend]} of shape {tuple(x.shape)} it returned "
            f"{type(out).__name__} of shape {shape}"
            + ("" if kind_ok else f" (expected {kinds[backend]} back)")
        )
    raise pytest.UsageError(
        f"{where}: probe failed ({'; '.join(failures)}); a softmax must return an array of the "
        "input's kind and shape"
    )


def _name(fn: Any) -> str:
    return str(getattr(fn, "__name__", type(fn).__name__))
