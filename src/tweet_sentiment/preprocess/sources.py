"""Where preprocess reads rows from: a Hub dataset, a local or gs:// directory of split files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tweet_sentiment.core.dataset import SPLIT_ALIASES
from tweet_sentiment.core.errors import DataSourceError, DataValidationError
from tweet_sentiment.core.readers import FORMATS, TABLE_FORMATS, RawRow, read_file
from tweet_sentiment.core.storage import locate
from tweet_sentiment.preprocess.config import EMBEDDED_SAMPLE, SAMPLE_DATA_DIR, PreprocessConfig


def split_of(path: Path) -> str | None:
    """The split a file belongs to, from its name: ``train.jsonl``, ``val.csv``, ``test-0000.parquet``."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for separator in ("-", "_", "."):
        stem = stem.split(separator)[0]
    return SPLIT_ALIASES.get(stem.lower())


def discover_files(root: Path, display_root: str) -> dict[str, list[tuple[Path, str]]]:
    """Map each split to its files (sorted), with the name to show in messages."""
    if root.is_file():
        candidates = [root]
        base = root.parent
    else:
        candidates = sorted(
            p for p in root.rglob("*") if p.is_file() and FORMATS.get(p.suffix.lower()) in TABLE_FORMATS
        )
        base = root
    files: dict[str, list[tuple[Path, str]]] = {}
    for path in candidates:
        split = split_of(path)
        display = (
            _join_display(display_root, path.relative_to(base).as_posix()) if root.is_dir() else display_root
        )
        if split is None:
            if root.is_file():
                raise DataValidationError(
                    f"{display}: cannot tell which split this file is; name it train, validation or test "
                    f"(e.g. train.jsonl)"
                )
            continue  # unrelated files in a directory (README, stats) are not data
        files.setdefault(split, []).append((path, display))
    return files


def _join_display(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def iter_hub_rows(source: str, config: PreprocessConfig) -> dict[str, Iterable[RawRow]]:
    """Rows of a Hugging Face Hub dataset, one iterable per split."""
    try:
        import datasets

        loaded = datasets.load_dataset(source, config.hub_config or None)
    except Exception as exc:  # network, auth and hub errors come in many types
        raise DataSourceError(
            f"cannot load dataset {source!r} (config {config.hub_config!r}) from the Hugging Face Hub: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
            f"Offline? Pass a local directory, a file or a gs:// prefix instead."
        ) from None
    splits: dict[str, Iterable[RawRow]] = {}
    for name, dataset in loaded.items():
        split = SPLIT_ALIASES.get(name)
        if split is None:
            continue
        location = f"{source}[{name}]"
        splits[split] = (RawRow(location, i, record=row) for i, row in enumerate(dataset, start=1))
    return splits


def resolve_source(config: PreprocessConfig, workdir: Path) -> dict[str, Iterable[RawRow]]:
    source = config.source
    if source == EMBEDDED_SAMPLE:
        source = str(SAMPLE_DATA_DIR)
    local = locate(source, lambda: workdir / "download")
    if local is None:
        return iter_hub_rows(source, config)
    return _rows_from_files(discover_files(local, source))


def _rows_from_files(files: dict[str, list[tuple[Path, str]]]) -> dict[str, Iterable[RawRow]]:
    rows: dict[str, Iterable[RawRow]] = {}
    for split, paths in files.items():
        for path, display in paths:
            if path.stat().st_size == 0:
                raise DataValidationError(f"{display}: the file is empty")
        rows[split] = _chain(read_file(path, display) for path, display in paths)
    return rows


def _chain(iterables: Iterable[Iterable[RawRow]]) -> Iterator[RawRow]:
    for iterable in iterables:
        yield from iterable
