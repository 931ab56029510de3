"""The toy theorem family: hundreds of small term-mode theorems over the toy prelude, for a tiny prover.

A tiny model can learn these on a CPU, which is what the FD/GRPO experiment and `make demo` need
(`bench/fd_small/`). Theorems come in *shapes* (one statement and proof pattern, e.g. "And is
commutative") and every shape has a few instances that differ in names and numerals. Shapes are in
difficulty tiers:

1. `Eq.refl` on unary numerals and additions that reduce by definition;
2. `And`/`Or`/`Exists`/`False` introductions, projections and permutations;
3. composition of implications;
4. chained `Eq.trans`, `Eq.symm` and `congrArg`;
5. `N.rec` inductions.

The split holds out whole shapes: a test shape never appears in train, under any names. Held-out
shapes are of two kinds (field `holdout`): *far* ones recombine train shapes into a proof never
seen (`And` commutativity, a 4-step `Eq.trans` chain, `congrArg` over an `Eq.trans`); *near* ones
take a train shape's proof to a statement form never seen (`h.left` out of `And p (And q r)`,
`Eq.symm` on propositions, `False.elim` into a conjunction, `zero_add`'s induction with another
motive). A few-million-parameter model trained on a few
hundred theorems reaches some near shapes and almost no far one (README, "Feedback Distillation in
small"); the two kinds say different things and are reported apart. Output: the JSONL shape of
`toy.jsonl` (name, split, header, informal_prefix, formal_statement, goal) plus `formal_proof`
(the reference proof, the text after `:=`), `shape`, `tier` and `holdout` ("", "near", "far").
Deterministic: the same seed gives the same file.

    python lean_project/toy/family.py                # writes lean_project/toy/family.jsonl
    python lean_project/toy/family.py --out F.jsonl --seed 0 --per-shape 12
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRELUDE = HERE / "Prelude.lean"
DEFAULT_OUT = HERE / "family.jsonl"

PROPS = ("p", "q", "r", "s", "t", "a", "b", "c")
NATS = ("n", "m", "k", "x", "y", "z", "i", "j")
HYPS = ("h", "h1", "h2", "h3", "hp", "hq", "hr", "hx", "hy", "H")
FUNS = ("f", "g", "u", "v", "w")
MAX_LIT = 4


def lit(k: int) -> str:
    """The unary numeral k: N.zero, N.succ N.zero, ..."""
    return "N.zero" if k == 0 else f"N.succ {arg(k - 1)}"


def arg(k: int) -> str:
    """The numeral k as an argument (parenthesised unless it is N.zero)."""
    return lit(k) if k == 0 else f"({lit(k)})"


def succs(k: int, x: str) -> str:
    """N.succ applied k times to the variable x."""
    return x if k == 0 else f"N.succ {'(' + succs(k - 1, x) + ')' if k > 1 else x}"


@dataclass(frozen=True)
class Instance:
    binders: str  # "(p q : Prop) (h : And p q)", may be ""
    goal: str  # the statement's type
    proof: str  # the term after `:=`


@dataclass(frozen=True)
class Shape:
    name: str
    tier: int
    split: str  # "train" or "test"
    make: Callable[[random.Random], Instance]
    near: bool = False  # a held-out shape whose proof is a train shape's, under a new statement form


def _distinct(rng: random.Random, pool: tuple[str, ...], n: int) -> list[str]:
    return rng.sample(pool, n)


# --- tier 1: definitional equalities ---------------------------------------------------------------

def refl_add(rng: random.Random) -> Instance:
    a, b = rng.randint(0, MAX_LIT), rng.randint(0, MAX_LIT)
    return Instance("", f"Eq (N.add {arg(a)} {arg(b)}) {arg(a + b)}", f"Eq.refl {arg(a + b)}")


def refl_mul(rng: random.Random) -> Instance:
    a, b = rng.randint(0, 3), rng.randint(0, 3)
    return Instance("", f"Eq (N.mul {arg(a)} {arg(b)}) {arg(a * b)}", f"Eq.refl {arg(a * b)}")


def add_lit_right(rng: random.Random) -> Instance:
    (x,), k = _distinct(rng, NATS, 1), rng.randint(0, MAX_LIT)
    return Instance(f"({x} : N)", f"Eq (N.add {x} {arg(k)}) ({succs(k, x)})", f"Eq.refl ({succs(k, x)})")


def refl_self(rng: random.Random) -> Instance:
    ty = rng.choice(("N", "Prop", "Bool"))
    (x,) = _distinct(rng, NATS if ty == "N" else PROPS, 1)
    return Instance(f"({x} : {ty})", f"Eq {x} {x}", f"Eq.refl {x}")


# --- tier 2: connectives ---------------------------------------------------------------------------

def and_intro(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    h1, h2 = _distinct(rng, HYPS, 2)
    return Instance(f"({p} {q} : Prop) ({h1} : {p}) ({h2} : {q})", f"And {p} {q}", f"And.intro {h1} {h2}")


def and_left(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} : Prop) ({h} : And {p} {q})", p, f"{h}.left")


def and_right(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} : Prop) ({h} : And {p} {q})", q, f"{h}.right")


def and_comm(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} : Prop) ({h} : And {p} {q})", f"And {q} {p}", f"And.intro {h}.right {h}.left")


def and_intro3(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    h1, h2, h3 = _distinct(rng, HYPS, 3)
    return Instance(f"({p} {q} {r} : Prop) ({h1} : {p}) ({h2} : {q}) ({h3} : {r})", f"And {p} (And {q} {r})",
                    f"And.intro {h1} (And.intro {h2} {h3})")


def and_assoc(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} : Prop) ({h} : And (And {p} {q}) {r})", f"And {p} (And {q} {r})",
                    f"And.intro {h}.left.left (And.intro {h}.left.right {h}.right)")


def or_inl(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} : Prop) ({h} : {p})", f"Or {p} {q}", f"Or.inl {h}")


def or_inr(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} : Prop) ({h} : {q})", f"Or {p} {q}", f"Or.inr {h}")


def or_self(rng: random.Random) -> Instance:
    (p,) = _distinct(rng, PROPS, 1)
    h, x = _distinct(rng, HYPS, 2)
    return Instance(f"({p} : Prop) ({h} : Or {p} {p})", p,
                    f"Or.rec (motive := fun _ => {p}) (fun {x} => {x}) (fun {x} => {x}) {h}")


def or_comm(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    h, x = _distinct(rng, HYPS, 2)
    return Instance(f"({p} {q} : Prop) ({h} : Or {p} {q})", f"Or {q} {p}",
                    f"Or.rec (motive := fun _ => Or {q} {p}) (fun {x} => Or.inr {x}) (fun {x} => Or.inl {x}) {h}")


def exists_lit(rng: random.Random) -> Instance:
    (x,), k = _distinct(rng, NATS, 1), rng.randint(0, MAX_LIT)
    return Instance("", f"Exists (fun {x} : N => Eq {x} {arg(k)})", f"Exists.intro {arg(k)} (Eq.refl {arg(k)})")


def exists_add(rng: random.Random) -> Instance:
    (x,), a, b = _distinct(rng, NATS, 1), rng.randint(0, 3), rng.randint(0, 3)
    return Instance("", f"Exists (fun {x} : N => Eq (N.add {x} {arg(a)}) {arg(a + b)})",
                    f"Exists.intro {arg(b)} (Eq.refl {arg(a + b)})")


def modus_ponens(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    f, h = rng.choice(FUNS), rng.choice(HYPS)
    return Instance(f"({p} {q} : Prop) ({f} : {p} → {q}) ({h} : {p})", q, f"{f} {h}")


def false_elim(rng: random.Random) -> Instance:
    (p,) = _distinct(rng, PROPS, 1)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} : Prop) ({h} : False)", p, f"False.elim {h}")


def absurd(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    h1, h2 = _distinct(rng, HYPS, 2)
    return Instance(f"({p} {q} : Prop) ({h1} : {p}) ({h2} : Not {p})", q, f"False.elim ({h2} {h1})")


# --- tier 3: composition ---------------------------------------------------------------------------

def comp2(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    f, g = _distinct(rng, FUNS, 2)
    (x,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} : Prop) ({f} : {p} → {q}) ({g} : {q} → {r})", f"{p} → {r}",
                    f"fun {x} => {g} ({f} {x})")


def comp3(rng: random.Random) -> Instance:
    p, q, r, s = _distinct(rng, PROPS, 4)
    f, g, u = _distinct(rng, FUNS, 3)
    (x,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} {s} : Prop) ({f} : {p} → {q}) ({g} : {q} → {r}) ({u} : {r} → {s})",
                    f"{p} → {s}", f"fun {x} => {u} ({g} ({f} {x}))")


def curry(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    (f,) = _distinct(rng, FUNS, 1)
    h1, h2 = _distinct(rng, HYPS, 2)
    return Instance(f"({p} {q} {r} : Prop) ({f} : And {p} {q} → {r}) ({h1} : {p}) ({h2} : {q})", r,
                    f"{f} (And.intro {h1} {h2})")


def uncurry(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    (f,) = _distinct(rng, FUNS, 1)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} : Prop) ({f} : {p} → {q} → {r}) ({h} : And {p} {q})", r,
                    f"{f} {h}.left {h}.right")


def apply_twice(rng: random.Random) -> Instance:
    (p,) = _distinct(rng, PROPS, 1)
    (f,) = _distinct(rng, FUNS, 1)
    (x,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} : Prop) ({f} : {p} → {p})", f"{p} → {p}", f"fun {x} => {f} ({f} {x})")


# --- tier 4: equality chains -----------------------------------------------------------------------

def _eq_vars(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    return _distinct(rng, NATS, n), _distinct(rng, HYPS, n - 1)


def _chain(hs: list[str]) -> str:
    """Eq.trans h1 (Eq.trans h2 h3), right-nested."""
    if len(hs) == 1:
        return hs[0]
    rest = _chain(hs[1:])
    return f"Eq.trans {hs[0]} {rest if len(hs) == 2 else '(' + rest + ')'}"


def trans_chain(length: int) -> Callable[[random.Random], Instance]:
    def make(rng: random.Random) -> Instance:
        xs, hs = _eq_vars(rng, length + 1)
        binders = f"({' '.join(xs)} : N) " + " ".join(f"({h} : Eq {a} {b})" for h, a, b in zip(hs, xs, xs[1:]))
        return Instance(binders, f"Eq {xs[0]} {xs[-1]}", _chain(hs))
    return make


def symm(rng: random.Random) -> Instance:
    (a, b), (h,) = _eq_vars(rng, 2)
    return Instance(f"({a} {b} : N) ({h} : Eq {a} {b})", f"Eq {b} {a}", f"Eq.symm {h}")


def symm_trans(rng: random.Random) -> Instance:
    (a, b, c), (h1, h2) = _eq_vars(rng, 3)
    return Instance(f"({a} {b} {c} : N) ({h1} : Eq {a} {b}) ({h2} : Eq {c} {b})", f"Eq {a} {c}",
                    f"Eq.trans {h1} (Eq.symm {h2})")


def congr_succ(rng: random.Random) -> Instance:
    (a, b), (h,) = _eq_vars(rng, 2)
    return Instance(f"({a} {b} : N) ({h} : Eq {a} {b})", f"Eq (N.succ {a}) (N.succ {b})", f"congrArg N.succ {h}")


def congr_add_right(rng: random.Random) -> Instance:
    (a, b, c), (h, _) = _eq_vars(rng, 3)
    (x,) = _distinct(rng, tuple(v for v in NATS if v not in (a, b, c)), 1)
    return Instance(f"({a} {b} {c} : N) ({h} : Eq {a} {b})", f"Eq (N.add {a} {c}) (N.add {b} {c})",
                    f"congrArg (fun {x} => N.add {x} {c}) {h}")


def congr_add_left(rng: random.Random) -> Instance:
    (a, b, c), (h, _) = _eq_vars(rng, 3)
    (x,) = _distinct(rng, tuple(v for v in NATS if v not in (a, b, c)), 1)
    return Instance(f"({a} {b} {c} : N) ({h} : Eq {a} {b})", f"Eq (N.add {c} {a}) (N.add {c} {b})",
                    f"congrArg (fun {x} => N.add {c} {x}) {h}")


def trans_congr(rng: random.Random) -> Instance:
    (a, b, c), (h1, h2) = _eq_vars(rng, 3)
    return Instance(f"({a} {b} {c} : N) ({h1} : Eq {a} {b}) ({h2} : Eq {b} {c})",
                    f"Eq (N.succ {a}) (N.succ {c})", f"congrArg N.succ (Eq.trans {h1} {h2})")


# --- tier 5: induction -----------------------------------------------------------------------------

def _induction(goal: Callable[[str], str], step: Callable[[str], str]) -> Callable[[random.Random], Instance]:
    """`N.rec` on the last variable with the motive spelled out (the bundled Lean has no `induction`)."""
    def make(rng: random.Random) -> Instance:
        (n,) = _distinct(rng, NATS, 1)
        (ih,) = _distinct(rng, ("ih", "h", "hn", "ih1", "IH"), 1)
        proof = (f"N.rec (motive := fun {n} => {goal(n)}) (Eq.refl _) "
                 f"(fun _ {ih} => {step(ih)}) {n}")
        return Instance(f"({n} : N)", goal(n), proof)
    return make


def _succ_add(rng: random.Random) -> Instance:
    m, n = _distinct(rng, NATS, 2)
    (ih,) = _distinct(rng, ("ih", "h", "hn", "ih1", "IH"), 1)
    goal = f"Eq (N.add (N.succ {m}) {n}) (N.succ (N.add {m} {n}))"
    return Instance(f"({m} {n} : N)", goal,
                    f"N.rec (motive := fun {n} => {goal}) (Eq.refl _) (fun _ {ih} => congrArg N.succ {ih}) {n}")


# --- near held-out shapes: a train shape's proof, under a statement form never trained on ----------

def and_left_nested(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} : Prop) ({h} : And {p} (And {q} {r}))", p, f"{h}.left")


def and_right_nested(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} : Prop) ({h} : And (And {p} {q}) {r})", r, f"{h}.right")


def or_inl_and(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} : Prop) ({h} : And {p} {q})", f"Or (And {p} {q}) {r}", f"Or.inl {h}")


def false_elim_and(rng: random.Random) -> Instance:
    p, q = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} : Prop) ({h} : False)", f"And {p} {q}", f"False.elim {h}")


def modus_ponens_and(rng: random.Random) -> Instance:
    p, q, r = _distinct(rng, PROPS, 3)
    f, h = rng.choice(FUNS), rng.choice(HYPS)
    return Instance(f"({p} {q} {r} : Prop) ({f} : And {p} {q} → {r}) ({h} : And {p} {q})", r, f"{f} {h}")


def comp2_and(rng: random.Random) -> Instance:
    p, q, r, s = _distinct(rng, PROPS, 4)
    f, g = _distinct(rng, FUNS, 2)
    (x,) = _distinct(rng, HYPS, 1)
    return Instance(f"({p} {q} {r} {s} : Prop) ({f} : {p} → And {q} {r}) ({g} : And {q} {r} → {s})",
                    f"{p} → {s}", f"fun {x} => {g} ({f} {x})")


def symm_prop(rng: random.Random) -> Instance:
    a, b = _distinct(rng, PROPS, 2)
    (h,) = _distinct(rng, HYPS, 1)
    return Instance(f"({a} {b} : Prop) ({h} : Eq {a} {b})", f"Eq {b} {a}", f"Eq.symm {h}")


SHAPES: tuple[Shape, ...] = (
    Shape("refl_add", 1, "train", refl_add),
    Shape("add_lit_right", 1, "train", add_lit_right),
    Shape("refl_self", 1, "train", refl_self),
    Shape("refl_mul", 1, "test", refl_mul, near=True),
    Shape("and_intro", 2, "train", and_intro),
    Shape("and_left", 2, "train", and_left),
    Shape("and_right", 2, "train", and_right),
    Shape("and_intro3", 2, "train", and_intro3),
    Shape("or_inl", 2, "train", or_inl),
    Shape("or_inr", 2, "train", or_inr),
    Shape("or_self", 2, "train", or_self),
    Shape("exists_lit", 2, "train", exists_lit),
    Shape("modus_ponens", 2, "train", modus_ponens),
    Shape("false_elim", 2, "train", false_elim),
    Shape("and_comm", 2, "test", and_comm),
    Shape("and_assoc", 2, "test", and_assoc),
    Shape("or_comm", 2, "test", or_comm),
    Shape("exists_add", 2, "test", exists_add, near=True),  # exists_lit's proof; the witness is computed
    Shape("absurd", 2, "test", absurd),
    Shape("comp2", 3, "train", comp2),
    Shape("curry", 3, "train", curry),
    Shape("apply_twice", 3, "train", apply_twice),
    Shape("comp3", 3, "test", comp3),
    Shape("uncurry", 3, "test", uncurry),
    Shape("symm", 4, "train", symm),
    Shape("trans2", 4, "train", trans_chain(2)),
    Shape("trans3", 4, "train", trans_chain(3)),
    Shape("congr_succ", 4, "train", congr_succ),
    Shape("congr_add_right", 4, "train", congr_add_right),
    Shape("trans4", 4, "test", trans_chain(4)),
    Shape("symm_trans", 4, "test", symm_trans),
    Shape("congr_add_left", 4, "test", congr_add_left),
    Shape("trans_congr", 4, "test", trans_congr),
    Shape("zero_add", 5, "train", _induction(lambda n: f"Eq (N.add N.zero {n}) {n}",
                                             lambda ih: f"congrArg N.succ {ih}")),
    Shape("zero_mul", 5, "train", _induction(lambda n: f"Eq (N.mul N.zero {n}) N.zero", lambda ih: ih)),
    # zero_add's proof: only the motive (the goal restated) is new
    Shape("one_add", 5, "test", _induction(lambda n: f"Eq (N.add (N.succ N.zero) {n}) (N.succ {n})",
                                           lambda ih: f"congrArg N.succ {ih}"), near=True),
    Shape("succ_add", 5, "test", _succ_add, near=True),
    # near held-out shapes (module docstring)
    Shape("and_left_nested", 2, "test", and_left_nested, near=True),
    Shape("and_right_nested", 2, "test", and_right_nested, near=True),
    Shape("or_inl_and", 2, "test", or_inl_and, near=True),
    Shape("false_elim_and", 2, "test", false_elim_and, near=True),
    Shape("modus_ponens_and", 2, "test", modus_ponens_and, near=True),
    Shape("comp2_and", 3, "test", comp2_and, near=True),
    Shape("symm_prop", 4, "test", symm_prop, near=True),
    Shape("zero_add_succ", 5, "test", _induction(lambda n: f"Eq (N.add N.zero (N.succ {n})) (N.succ {n})",
                                                 lambda ih: f"congrArg N.succ {ih}"), near=True),
)


def instances(shape: Shape, seed: int, per_shape: int) -> Iterator[Instance]:
    """Up to `per_shape` distinct instances (by statement); fewer when the shape has fewer."""
    rng = random.Random(f"{seed}:{shape.name}")
    seen: set[tuple[str, str]] = set()
    for _ in range(50 * per_shape):
        inst = shape.make(rng)
        if (inst.binders, inst.goal) not in seen:
            seen.add((inst.binders, inst.goal))
            yield inst
            if len(seen) == per_shape:
                return


def records(seed: int = 0, per_shape: int = 12, header: str | None = None) -> list[dict[str, object]]:
    """The family as JSONL records (train shapes first, then test shapes, each in SHAPES order)."""
    header = PRELUDE.read_text(encoding="utf-8") if header is None else header
    out: list[dict[str, object]] = []
    for shape in sorted(SHAPES, key=lambda s: s.split != "train"):
        for i, inst in enumerate(instances(shape, seed, per_shape)):
            name = f"fam_{shape.name}_{i}"
            binders = f" {inst.binders}" if inst.binders else ""
            out.append({
                "name": name, "split": shape.split, "informal_prefix": "",
                "formal_statement": f"theorem {name}{binders} : {inst.goal} :=", "goal": "", "header": header,
                "formal_proof": f" {inst.proof}", "shape": shape.name, "tier": shape.tier,
                "holdout": "" if shape.split == "train" else ("near" if shape.near else "far"),
            })
    return out


def write(path: Path, recs: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSONL file to write")
    ap.add_argument("--seed", type=int, default=0, help="seeds the names and numerals of the instances")
    ap.add_argument("--per-shape", type=int, default=12, help="instances per shape (at most)")
    args = ap.parse_args()
    recs = records(args.seed, args.per_shape)
    write(args.out, recs)
    n_train = sum(r["split"] == "train" for r in recs)
    print(f"{args.out}: {len(recs)} theorems, {n_train} train / {len(recs) - n_train} test, {len(SHAPES)} shapes")


if __name__ == "__main__":
    main()
