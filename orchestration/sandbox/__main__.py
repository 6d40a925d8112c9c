"""`python -m orchestration.sandbox`: serve the fake vendors, or write transcripts and seeds.

python -m orchestration.sandbox serve --port 8765
python -m orchestration.sandbox transcripts /tmp/claude --start 2026-11-01 --end 2026-12-01
python -m orchestration.sandbox seeds dbt_project/seeds
"""

import argparse
import contextlib
import logging
import sys
from datetime import date
from pathlib import Path

from orchestration.sandbox.company import build_company
from orchestration.sandbox.seeds import write_seeds
from orchestration.sandbox.server import SandboxServer
from orchestration.sandbox.transcripts import write_transcripts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m orchestration.sandbox")
    parser.add_argument("--seed", type=int, default=7, help="company seed (default 7)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the vendor APIs until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    transcripts = commands.add_parser("transcripts", help="write Claude Code transcripts")
    transcripts.add_argument("root", type=Path)
    transcripts.add_argument("--start", type=date.fromisoformat, required=True)
    transcripts.add_argument("--end", type=date.fromisoformat, required=True, help="exclusive")
    seeds = commands.add_parser("seeds", help="write people.csv and source_mappings.csv")
    seeds.add_argument("seeds_dir", type=Path, nargs="?", default=Path("dbt_project/seeds"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    company = build_company(args.seed)
    if args.command == "serve":
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        server = SandboxServer(company, args.host, args.port, verbose=args.verbose)
        sys.stdout.write(f"sandbox serving on {server.url}\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    elif args.command == "transcripts":
        paths = write_transcripts(company, args.root, args.start, args.end)
        sys.stdout.write(f"wrote {len(paths)} transcript files under {args.root}\n")
    else:
        for path in write_seeds(company, args.seeds_dir):
            sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
