"""Run the whole book again with another seed base (and thread count) and record every claim.

    python tools/replicate.py --seed-base 1 [--threads 2] [--jobs 1]   # make replicate SEED=1 THREADS=2

Every chapter executes in full mode with ``BN_BOOK_SEED=<base>`` and ``<threads>``
PyTorch threads per chapter (another reduction order: a stand-in for another CPU),
as many chapters at a time as the cores hold at that many threads (``default_jobs``:
two with 1 thread on a 2-core machine, one with 2), into its own cache ``_build/replicate/seed<B>-threads<N>``
(base 0 with 1 thread is ``make book``'s own cache, so after ``make book`` it runs
nothing). Nothing is written into ``_build/html``. Claims are recorded, not raised:
the run's record (every claim, held or failed, with its evidence; seed base,
threads, machine, date, commit and each chapter's code digest) is written to
``replications/seed<B>-threads<N>-<machine>.json``, the book's replication page
(``chapters/replication.md``) is regenerated from all records, a table of the
failing claims is printed, and the exit status is 1 when any claim fails.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # noqa: E402
import replication_page  # noqa: E402

RECORDS = build_book.ROOT / "replications"


def machine():
    """The CPU this run used: model, vendor, whether it has AVX-512, cores; and a short tag."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass

    avx512 = "avx512f" in info.get("flags", "").split()
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(info.get("vendor_id"), platform.machine())
    return {"cpu": info.get("model name", platform.processor() or platform.machine()),
            "vendor": vendor, "avx512": avx512, "cores": os.cpu_count(),
            "tag": f"{vendor}{'-avx512' if avx512 else ''}"}


def run_record(seed_base, threads, records, root=build_book.ROOT):
    """The replication record: the run's settings and every chapter's claims."""
    return {"seed_base": seed_base, "threads": threads, "machine": machine(),
            "date": time.strftime("%Y-%m-%d"), "commit": build_book.git_commit(root),
            "chapters": {name: record for name, record in sorted(records.items()) if record}}


def default_jobs(threads, cores=None):
    """Chapters to run at once so that jobs x threads does not exceed the cores (at least 1).

    Two chapters with 2 threads each on 2 cores had not finished chapters 6 and 7 after 27 minutes
    (283 s and 451 s at 1 thread): each PyTorch thread waits for a partner the other chapter keeps
    off the CPU.
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, threads))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-base", type=int, required=True, help="BN_BOOK_SEED for every chapter")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads per chapter (default 1)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="chapters executed at the same time (default: the cores divided by "
                             "--threads, at least 1)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds per cell (default 3600: replications often share the machine)")
    args = parser.parse_args(argv)
    if args.jobs is None:
        args.jobs = default_jobs(args.threads)
    if args.seed_base < 0 or args.threads < 1 or args.jobs < 1:
        parser.error("--seed-base must be >= 0, --threads and --jobs >= 1")
    start = time.perf_counter()
    root = build_book.ROOT
    if (args.seed_base, args.threads) == (0, 1):  # exactly make book's run: share its cache
        out, threads = None, None
    else:
        out = root / "_build" / "replicate" / f"seed{args.seed_base}-threads{args.threads}"
        threads = args.threads
    out, records = build_book.prepare("full", args.jobs, args.timeout, root, out=out,
                                      seed_base=args.seed_base, threads=threads, keep_failed=True)
    record = run_record(args.seed_base, args.threads, records, root)
    RECORDS.mkdir(exist_ok=True)
    path = RECORDS / f"seed{args.seed_base}-threads{args.threads}-{record['machine']['tag']}.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    page = replication_page.write_page(root)
    failures = build_book.failing_claims(records)
    total = sum(len(r["claims"]) for r in records.values() if r)
    print(f"replication seed base {args.seed_base}, {args.threads} thread(s): "
          f"{total - len(failures)} of {total} claims hold "
          f"({time.perf_counter() - start:.0f} s); record {path.relative_to(root)}, "
          f"page {page.relative_to(root)}")
    if failures:
        build_book.report_failures(failures, file=sys.stdout)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
