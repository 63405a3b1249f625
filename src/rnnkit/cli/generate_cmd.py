"""``rnnkit generate DIR --prompt TEXT``: sample text from a trained language model."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add_parser("generate", help="sample text from a language model run",
                            description="Continue --prompt with text sampled from an `lm` run.")
    p.add_argument("run_dir", metavar="DIR", help="an lm run directory")
    p.add_argument("--prompt", default="", help="text to continue (default: start from nothing)")
    p.add_argument("--length", type=int, default=200, metavar="N", help="characters/tokens to generate (default 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature, > 0 (default 1)")
    p.add_argument("--top-k", dest="top_k", type=int, default=None, metavar="K", help="sample among the K most likely")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.tasks.run import LoadedRun

    loaded = LoadedRun(args.run_dir, task="lm", command="generate")
    text = loaded.task.generate(loaded.model, loaded.state, args.prompt, length=args.length,
                                temperature=args.temperature, top_k=args.top_k, seed=args.seed)
    print(args.prompt + text)
    return 0
