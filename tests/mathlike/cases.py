"""ProofNet- and miniF2F-shaped statements over tests/mathlike/Header.lean, as data for test_mathlike.py.

Each statement comes from a small family function (group laws, orders, sets, functions, numerals, ...)
with a term-mode proof. From it come the cases (`build_cases`):
- the proof after the reference (proof mode), which must be `proved`;
- an honest rewrite of the whole theorem (code mode) that must be `proved` too: binders renamed,
  an instance binder named or left anonymous, binder kinds changed, binders moved after the colon,
  a definition or `abbrev` of the header unfolded, universes renamed or declared, a helper lemma,
  `variable` binders, ... (`HONEST`);
- attempts that must not be `proved`: a neighbouring statement proved instead (a changed constant,
  sides swapped, another conclusion), a weaker one (an extra hypothesis, a stronger class, fixed
  universes, the statement re-elaborated under another instance), `sorryAx`, an axiom, another name.

The bundled Lean has no notation, so `a * b = c` is written as Mathlib's notation expands it,
`binrel% Eq (binop% HMul.hMul a b) c`, and `∀ x ∈ S, p x` as `∀ x, Mem.mem S x → p x`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal

HEADER = Path(__file__).with_name("Header.lean").read_text()
SORRY = "sorryAx _ Bool.false"


@dataclass(frozen=True)
class Binder:
    bracket: str  # `(`, `{` or `[`
    names: tuple[str, ...]  # empty for an anonymous instance binder
    type: str

    @property
    def text(self) -> str:
        close = {"(": ")", "{": "}", "[": "]"}[self.bracket]
        names = " ".join(self.names)
        return f"{self.bracket}{names} : {self.type}{close}" if names else f"[{self.type}]"


def parse_binders(text: str) -> tuple[Binder, ...]:
    """`{G : Type u} [Group G] (a b : G)` as binders; brackets nest inside a binder's type."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth, start = depth + 1, (i if depth == 0 else start)
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                inner = text[start + 1 : i]
                names, sep, ty = inner.partition(" : ")
                if not sep:  # `[Group G]`
                    out.append(Binder("[", (), inner.strip()))
                else:
                    out.append(Binder(text[start], tuple(names.split()), ty.strip()))
    return tuple(out)


@dataclass(frozen=True)
class Variant:
    """A family's own rewrite of a statement: honest (same statement) or a neighbour (another one)."""

    kind: str
    why: str
    binders: tuple[Binder, ...] | None = None  # None: the statement's own
    concl: str | None = None
    proof: str | None = None
    prefix: str = ""  # commands before the theorem


@dataclass(frozen=True)
class Stmt:
    name: str
    binders: tuple[Binder, ...]
    concl: str
    proof: str
    family: str
    # Text replacements that unfold a definition, instance or `abbrev` of the header in the statement.
    unfold: tuple[tuple[str, str], ...] = ()
    # An instance, declared before the theorem, under which the conclusion's class means `True`.
    override: str = ""
    honest: tuple[Variant, ...] = ()
    neighbours: tuple[Variant, ...] = ()

    @property
    def reference(self) -> str:
        return signature("theorem", self.name, self.binders, self.concl) + " :="

    def code(self, keyword: str = "theorem", name: str | None = None, binders: tuple[Binder, ...] | None = None,
             concl: str | None = None, proof: str | None = None, prefix: str = "") -> str:
        sig = signature(keyword, name or self.name, self.binders if binders is None else binders,
                        self.concl if concl is None else concl)
        return f"{prefix}{sig} :=\n  {self.proof if proof is None else proof}"

    def variant_code(self, v: Variant) -> str:
        return self.code(binders=v.binders, concl=v.concl, proof=v.proof, prefix=v.prefix)

    @property
    def explicit_names(self) -> list[str]:
        return [n for b in self.binders if b.bracket == "(" for n in b.names]


def signature(keyword: str, name: str, binders: tuple[Binder, ...], concl: str) -> str:
    """`theorem NAME binders :\n    concl`, binders wrapped at 100 columns as ProofNet writes them."""
    lines, line = [], f"{keyword} {name}"
    for b in binders:
        if len(line) + len(b.text) > 100:
            lines.append(line)
            line = "    "
        line += ("" if line == "    " else " ") + b.text
    lines.append(line + " :")
    return "\n".join(lines) + f"\n    {concl}"


# -- Mathlib's notations, as they expand ---------------------------------------------------------


def par(t: object) -> str:
    t = str(t)
    return f"({t})" if " " in t and not (t.startswith("(") and t.endswith(")")) else t


def eq(a: object, b: object) -> str:
    return f"binrel% Eq {par(a)} {par(b)}"


def le(a: object, b: object) -> str:
    return f"binrel% LE.le {par(a)} {par(b)}"


def lt(a: object, b: object) -> str:
    return f"binrel% LT.lt {par(a)} {par(b)}"


def mul(a: object, b: object) -> str:
    return f"binop% HMul.hMul {par(a)} {par(b)}"


def add(a: object, b: object) -> str:
    return f"binop% HAdd.hAdd {par(a)} {par(b)}"


def inv(a: object) -> str:
    return f"Inv.inv {par(a)}"


def mem(s: object, a: object) -> str:
    return f"Mem.mem {par(s)} {par(a)}"


def uses(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w'.]){re.escape(name)}(?![\w'])", text) is not None


NOTATION = (("binrel% Eq", "Eq"), ("binop% HMul.hMul", "Mul.mul"), ("binop% HAdd.hAdd", "Add.add"))
SET_MEM = "instance (priority := 2000) memTrue {α : Type u} : Mem α (Set α) := Mem.mk (fun _ _ => True)\n"
SUBGROUP_MEM = ("instance (priority := 2000) memTrue {G : Type u} [Group G] : Mem G (Subgroup G) :=\n"
                "  Mem.mk (fun _ _ => True)\n")


def stmt(name: str, binders: str, concl: str, proof: str, family: str, **kw) -> Stmt:
    return Stmt(name, parse_binders(binders), concl, proof, family, **kw)


# -- families --------------------------------------------------------------------------------------


def group_laws() -> list[Stmt]:
    """`a * 1 = a` and `1 * a = a` over terms of a group (ProofNet's `[Group G]` exercises)."""
    terms = ["a", mul("a", "b"), inv("a"), mul(inv("a"), "b"), mul("a", mul("b", "a")), inv(mul("a", "b"))]
    out = []
    for k, (t, law) in enumerate((t, law) for t in terms for law in ("mul_one", "one_mul")):
        lhs = mul(t, 1) if law == "mul_one" else mul(1, t)
        inst = "[Group G]" if k % 3 else "[hG : Group G]"  # ProofNet names an instance now and then
        names = "a b" if uses(t, "b") else "a"
        out.append(stmt(
            f"exercise_1_1_{k + 1}", f"{{G : Type u}} {inst} ({names} : G)", eq(lhs, t), f"{law} {par(t)}",
            "group_laws", unfold=NOTATION,
            neighbours=(
                Variant("swapped_sides", "`t = t * 1` for `t * 1 = t`", concl=eq(t, lhs),
                        proof=f"Eq.symm ({law} {par(t)})"),
                Variant("changed_term", "one more factor `1`", concl=eq(mul(lhs, 1), t),
                        proof=f"Eq.trans (mul_one {par(lhs)}) ({law} {par(t)})"),
            )))
    return out


def group_hypotheses() -> list[Stmt]:
    """`x = y → y * g = e → x * g = e`: hypotheses rewritten into the goal."""
    pairs = [("z", "1"), ("1", "z"), (inv("z"), "1"), ("z", "w"), (mul("z", "z"), "1"), ("y", "1"),
             ("1", "1"), (inv("y"), "z")]
    out = []
    for k, (g, e) in enumerate(pairs):
        extra = [n for n in ("z", "w") if uses(g + " " + e, n)]
        bs = "{G : Type u} [Group G] {x y" + "".join(f" {n}" for n in extra) + " : G}"
        proof = f"Eq.trans (congrArg (fun (t : G) => {mul('t', g)}) h₁) h₂"
        out.append(stmt(
            f"exercise_2_1_{k + 1}", f"{bs} (h₁ : {eq('x', 'y')}) (h₂ : {eq(mul('y', g), e)})",
            eq(mul("x", g), e), proof, "group_hypotheses", unfold=NOTATION,
            neighbours=(
                Variant("other_conclusion", "the hypothesis `h₂` restated", concl=eq(mul("y", g), e), proof="h₂"),
                Variant("swapped_sides", "`e = x * g`", concl=eq(e, mul("x", g)), proof=f"Eq.symm ({proof})"),
            )))
    return out


def comm_groups() -> list[Stmt]:
    """Commutativity in a `CommGroup`."""
    pairs = [("a", "b"), (inv("a"), "b"), ("a", inv("b")), (mul("a", "b"), "a"), (inv("a"), inv("b"))]
    out = []
    for k, (s, t) in enumerate(pairs):
        out.append(stmt(
            f"exercise_2_2_{k + 1}", "{G : Type u} [CommGroup G] (a b : G)", eq(mul(s, t), mul(t, s)),
            f"CommGroup.mul_comm {par(s)} {par(t)}", "comm_groups", unfold=NOTATION,
            neighbours=(Variant("changed_term", "the left side on both sides", concl=eq(mul(s, t), mul(s, t)),
                                proof="Eq.refl _"),)))
    for k, (s, t) in enumerate([("a", "b"), (inv("a"), "b"), ("b", "a")], start=len(pairs)):
        proof = f"Eq.trans (mul_one {par(mul(s, t))}) (CommGroup.mul_comm {par(s)} {par(t)})"
        out.append(stmt(
            f"exercise_2_2_{k + 1}", "{G : Type u} [CommGroup G] (a b : G)", eq(mul(mul(s, t), 1), mul(t, s)),
            proof, "comm_groups", unfold=NOTATION,
            neighbours=(Variant("swapped_sides", "sides swapped", concl=eq(mul(t, s), mul(mul(s, t), 1)),
                                proof=f"Eq.symm ({proof})"),)))
    return out


def orders() -> list[Stmt]:
    """Chains of `≤` in a preorder, antisymmetry in a partial order, `≤` on ℕ."""
    vs = ["a", "b", "c", "d", "e"]
    out = []
    for k in range(5):  # a chain of k steps
        hyps = " ".join(f"(h{i + 1} : {le(vs[i], vs[i + 1])})" for i in range(k))
        proof = "le_refl a" if k == 0 else "h1"
        for i in range(1, k):
            proof = f"Preorder.le_trans _ _ _ ({proof}) h{i + 1}"
        shorter = "h1"
        for i in range(1, k - 1):
            shorter = f"Preorder.le_trans _ _ _ ({shorter}) h{i + 1}"
        neighbours = () if k < 2 else (
            Variant("other_conclusion", "the chain's last step dropped from the conclusion",
                    concl=le("a", vs[k - 1]), proof=shorter),)
        out.append(stmt(
            f"exercise_3_{k + 1}", f"{{α : Type u}} [Preorder α] {{{' '.join(vs[: k + 1])} : α}} {hyps}".rstrip(),
            le("a", vs[k]), proof, "orders", neighbours=neighbours))
    out.append(stmt(
        "exercise_3_6", "{α : Type u} [PartialOrder α] {a b : α} (h₁ : " + le("a", "b") + ") (h₂ : " + le("b", "a")
        + ")", eq("a", "b"), "le_antisymm h₁ h₂", "orders",
        neighbours=(Variant("swapped_sides", "`b = a`", concl=eq("b", "a"), proof="Eq.symm (le_antisymm h₁ h₂)"),)))
    out.append(stmt(
        "exercise_3_7", f"{{α : Type u}} [PartialOrder α] (a b c : α) (h₁ : {le('a', 'b')}) (h₂ : {le('b', 'c')})"
        f" (h₃ : {le('c', 'a')})", eq("a", "b"), "le_antisymm h₁ (Preorder.le_trans _ _ _ h₂ h₃)", "orders",
        neighbours=(Variant("other_conclusion", "`b ≤ a` instead of `a = b`", concl=le("b", "a"),
                            proof="Preorder.le_trans _ _ _ h₂ h₃"),)))
    out.append(stmt(
        "exercise_3_8", f"{{a b c : ℕ}} (h₁ : {le('a', 'b')}) (h₂ : {le('b', 'c')})", le("a", "c"),
        "Nat.le_trans h₁ h₂", "orders", unfold=(("binrel% LE.le", "Nat.le"), ("ℕ", "Nat")),
        neighbours=(Variant("other_conclusion", "`a ≤ b`, the first hypothesis", concl=le("a", "b"), proof="h₁"),)))
    return out


def sets() -> list[Stmt]:
    """Membership, subsets, intersections, images, set-builder, coercion of a set to a type."""
    a = "{α : Type u}"
    subset = "∀ x, Mem.mem S x → Mem.mem T x"
    return [
        stmt("exercise_13_1", f"{a} (S T : Set α) (h : Set.Subset S T) (a : α) (ha : {mem('S', 'a')})",
             mem("T", "a"), "h a ha", "sets", unfold=(("Set.Subset S T", subset),), override=SET_MEM,
             neighbours=(Variant("other_conclusion", "`a ∈ S`, the hypothesis", concl=mem("S", "a"), proof="ha"),)),
        stmt("exercise_13_2", f"{a} (S : Set α) (P : α → Prop) (hS : ∀ x, {mem('S', 'x')} → P x) (a : S)", "P a",
             "hS a.val a.property", "sets", unfold=(("(a : S)", "(a : Subtype (fun y => Mem.mem S y))"),),
             neighbours=(Variant("extra_premise", "`P a` only for an `a` in `S` given twice",
                                 concl=f"{mem('S', 'a')} → P a", proof="fun _ => hS a.val a.property"),)),
        stmt("exercise_13_3", f"{a} (S T : Set α) (a : α) (ha : {mem('S', 'a')}) (hb : {mem('T', 'a')})",
             mem("Set.inter S T", "a"), "And.intro ha hb", "sets",
             unfold=((mem("Set.inter S T", "a"), "And (Mem.mem S a) (Mem.mem T a)"),), override=SET_MEM,
             neighbours=(Variant("swapped_sides", "`a ∈ T ∩ S`", concl=mem("Set.inter T S", "a"),
                                 proof="And.intro hb ha"),)),
        stmt("exercise_13_4", f"{a} {{β : Type v}} (f : α → β) (S : Set α) (a : α) (ha : {mem('S', 'a')})",
             mem("Set.image f S", "(f a)"), "Exists.intro a (And.intro ha (Eq.refl _))", "sets",
             unfold=((mem("Set.image f S", "(f a)"), "Exists (fun x => And (Mem.mem S x) (Eq (f x) (f a)))"),),
             override=SET_MEM,
             neighbours=(Variant("other_conclusion", "`f a ∈ f '' univ`", concl=mem("Set.image f Set.univ", "(f a)"),
                                 proof="Exists.intro a (And.intro True.intro (Eq.refl _))"),)),
        stmt("exercise_13_5", f"{a} (a : α)", mem("(setOf (fun x => Eq x a))", "a"), "Eq.refl a", "sets",
             unfold=((mem("(setOf (fun x => Eq x a))", "a"), "Eq a a"),), override=SET_MEM),
        stmt("exercise_13_6", f"{a} (a : α)", mem("Set.univ", "a"), "True.intro", "sets",
             unfold=((mem("Set.univ", "a"), "True"),)),  # `univ` is `True` anyway: no instance to swap
        stmt("exercise_13_7", f"{a} (S : Set α) (P : α → Prop) (a : α) (ha : {mem('S', 'a')}) (hP : P a)",
             "Exists (fun x => And (Mem.mem S x) (P x))", "Exists.intro a (And.intro ha hP)", "sets",
             neighbours=(Variant("other_conclusion", "`∃ x, P x`, without `x ∈ S`", concl="Exists (fun x => P x)",
                                 proof="Exists.intro a hP"),)),
        stmt("exercise_13_8", f"{a} (S T U : Set α) (h₁ : Set.Subset S T) (h₂ : Set.Subset T U)", "Set.Subset S U",
             "fun x hx => h₂ x (h₁ x hx)", "sets", unfold=(("(h₁ : Set.Subset S T)", f"(h₁ : {subset})"),),
             neighbours=(Variant("other_conclusion", "`S ⊆ T`, the first hypothesis", concl="Set.Subset S T",
                                 proof="h₁"),)),
        stmt("exercise_1_13a", f"(Ω : Set ℝ) (a b : Ω) (f : ℝ → ℝ) (hf : ∀ z, {mem('Ω', 'z')} → {eq('f z', 0)})",
             eq("f a", "f b"), "Eq.trans (hf a a.2) (Eq.symm (hf b b.2))", "sets", unfold=(("ℝ", "Real"),),
             neighbours=(Variant("swapped_sides", "`f b = f a`", concl=eq("f b", "f a"),
                                 proof="Eq.trans (hf b b.2) (Eq.symm (hf a a.2))"),)),
    ]


def functions() -> list[Stmt]:
    """Injective and surjective maps and their compositions."""
    inj = "fun a b h => hf a b (hg (f a) (f b) h)"
    surj = ("fun c => Exists.rec (motive := fun _ => Exists (fun a => Eq (Function.comp g f a) c))\n"
            "    (fun b hb => Exists.rec (motive := fun _ => Exists (fun a => Eq (Function.comp g f a) c))\n"
            "      (fun a (ha : Eq (f a) b) => Exists.intro a (Eq.trans (congrArg g ha) hb)) (hf b)) (hg c)")
    comp_inj = "∀ a₁ a₂, Eq (Function.comp g f a₁) (Function.comp g f a₂) → Eq a₁ a₂"
    out = []
    for k, (tys, kind) in enumerate([
        ("{α β γ : Type u}", "inj"), ("{α : Type u} {β : Type v} {γ : Type w}", "inj"),
        ("{α : Type u} {β : Type v} {γ : Type w}", "surj"), ("{α β γ : Type}", "surj"),
    ]):
        short = "Injective" if kind == "inj" else "Surjective"
        hyp = f"Function.{short}"
        out.append(stmt(
            f"exercise_2_1_{20 + k}", f"{tys} (f : α → β) (g : β → γ) (hf : {hyp} f) (hg : {hyp} g)",
            f"{hyp} (Function.comp g f)", inj if kind == "inj" else surj, "functions",
            unfold=(("Function.Injective (Function.comp g f)", comp_inj),) if kind == "inj" else (),
            honest=(Variant("open_namespace", "`open Function in` and the short names", prefix="open Function in\n",
                            binders=parse_binders(f"{tys} (f : α → β) (g : β → γ) (hf : {short} f) (hg : {short} g)"),
                            concl=f"{short} (comp g f)"),),
            neighbours=(Variant("other_conclusion", "`g` alone", concl=f"{hyp} g", proof="hg"),)))
    out += [
        stmt("exercise_2_1_24", "{α : Type}", "Function.Injective (fun x : α => x)", "fun a b h => h", "functions",
             unfold=(("Function.Injective (fun x : α => x)", "∀ a b : α, Eq a b → Eq a b"),)),
        stmt("exercise_2_1_25", "{α : Type u} {β : Type v} (f : α → β) (g : β → α) (h : ∀ a, Eq (g (f a)) a)",
             "Function.Injective f", "fun a b hab => Eq.trans (Eq.symm (h a)) (Eq.trans (congrArg g hab) (h b))",
             "functions", unfold=(("Function.Injective f", "∀ a b, Eq (f a) (f b) → Eq a b"),),
             neighbours=(Variant("other_conclusion", "`g` surjective instead", concl="Function.Surjective g",
                                 proof="fun a => Exists.intro (f a) (h a)"),)),
        stmt("exercise_2_1_26", "{α : Type u} {β : Type v} (f : α → β) (g : β → α) (h : ∀ b, Eq (f (g b)) b)",
             "Function.Surjective f", "fun b => Exists.intro (g b) (h b)", "functions",
             unfold=(("Function.Surjective f", "∀ b, Exists (fun a => Eq (f a) b)"),),
             neighbours=(Variant("other_conclusion", "`g` injective instead", concl="Function.Injective g",
                                 proof="fun a b hab => Eq.trans (Eq.symm (h a)) (Eq.trans (congrArg f hab) (h b))"),)),
        stmt("exercise_2_1_27", "{α : Type u} {β : Type v} (f : α → β) (hf : Function.Injective f) (a b : α)"
             " (h : Eq (f a) (f b))", eq("a", "b"), "hf a b h", "functions",
             unfold=(("Function.Injective f", "∀ a b, Eq (f a) (f b) → Eq a b"),),
             neighbours=(Variant("swapped_sides", "`b = a`", concl=eq("b", "a"), proof="Eq.symm (hf a b h)"),)),
    ]
    return out


def steps(n: int) -> str:
    """A proof of `Nat.le m (m + n)`."""
    return "Nat.le.refl" if n == 0 else f"Nat.le.step ({steps(n - 1)})"


def nat_numerals() -> list[Stmt]:
    """Closed computations and small equations over ℕ (miniF2F's `mathd_numbertheory`)."""
    out = []
    for k, (x, y, z) in enumerate([(3, 4, 5), (2, 7, 1), (6, 6, 0), (9, 1, 8)]):
        r = x * y + z
        out.append(stmt(
            f"mathd_numbertheory_{100 + k}", "", eq(add(mul(x, y), z), r), "Eq.refl _", "nat_numerals",
            unfold=(("binop% HAdd.hAdd", "Nat.add"), ("binop% HMul.hMul", "Nat.mul")),
            neighbours=(Variant("changed_constant", "one more on both sides", concl=eq(add(mul(x, y), z + 1), r + 1),
                                proof="Eq.refl _"),)))
    for k, (d, q) in enumerate([(3, 4), (7, 2), (5, 5)]):
        out.append(stmt(
            f"mathd_numbertheory_{110 + k}", "", f"Dvd.dvd {d} {d * q}", f"Exists.intro {q} (Eq.refl _)",
            "nat_numerals", override="instance (priority := 2000) dvdTrue : Dvd Nat := Dvd.mk (fun _ _ => True)\n",
            unfold=((f"Dvd.dvd {d} {d * q}", f"Exists (fun c => Eq {d * q} (Nat.mul {d} c))"),),
            neighbours=(Variant("changed_constant", f"`{d} ∣ {d * q + d}`", concl=f"Dvd.dvd {d} {d * q + d}",
                                proof=f"Exists.intro {q + 1} (Eq.refl _)"),)))
    for k, (m, n) in enumerate([(3, 7), (0, 4)]):
        out.append(stmt(
            f"mathd_numbertheory_{120 + k}", "", le(m, n), steps(n - m), "nat_numerals",
            override="instance (priority := 2000) leTrue : LE Nat := LE.mk (fun _ _ => True)\n",
            unfold=(("binrel% LE.le", "Nat.le"),),
            neighbours=(Variant("changed_constant", "a bound one larger", concl=le(m, n + 1),
                                proof=steps(n + 1 - m)),)))
    out.append(stmt(
        "mathd_numbertheory_130", "", lt(3, 7), steps(3), "nat_numerals",
        honest=(Variant("unfolded_lt", "`3 < 7` is `succ 3 ≤ 7` on ℕ", concl=le("(Nat.succ 3)", 7)),),
        neighbours=(Variant("changed_constant", "`3 < 8`", concl=lt(3, 8), proof=steps(4)),)))
    out.append(stmt(
        "mathd_numbertheory_150", "(p : ℕ) (hp : Nat.Prime p)", le(2, "p"), "hp.1", "nat_numerals",
        unfold=(("Nat.Prime p", f"And ({le(2, 'p')}) (∀ m, Dvd.dvd m p → Or (Eq m 1) (Eq m p))"),),
        neighbours=(Variant("other_conclusion", "the other half of `Nat.Prime p`",
                            concl="∀ m, Dvd.dvd m p → Or (Eq m 1) (Eq m p)", proof="hp.2"),)))
    for k, (v, d) in enumerate([(3, 2), (10, 5), (0, 7)]):
        proof = f"Eq.trans (congrArg (fun (t : ℕ) => {add('t', d)}) h₀) (Eq.refl _)"
        out.append(stmt(
            f"mathd_algebra_{140 + k}", f"(n : ℕ) (h₀ : {eq('n', v)})", eq(add("n", d), v + d), proof,
            "nat_numerals", unfold=(("binop% HAdd.hAdd", "Nat.add"), ("ℕ", "Nat")),
            neighbours=(
                Variant("changed_constant", "another value for `n`",
                        binders=parse_binders(f"(n : ℕ) (h₀ : {eq('n', v + 1)})"), concl=eq(add("n", d), v + d + 1)),
                Variant("swapped_sides", "sides swapped", concl=eq(v + d, add("n", d)), proof=f"Eq.symm ({proof})"),
            )))
    return out


def reals() -> list[Stmt]:
    """miniF2F's `mathd_algebra` shapes over the stand-in `ℝ`: hypotheses give the answer."""
    out = []
    for k, (c, v) in enumerate([(3, 5), (2, 7), (9, 1)]):
        proof = f"Eq.trans h₀ (congrArg (fun (t : ℝ) => {mul(c, 't')}) h₁)"
        out.append(stmt(
            f"mathd_algebra_{200 + k}", f"(x y : ℝ) (h₀ : {eq('y', mul(c, 'x'))}) (h₁ : {eq('x', v)})",
            eq("y", mul(c, v)), proof, "reals", unfold=(("ℝ", "Real"),),
            neighbours=(
                Variant("changed_constant", "another value for `x`",
                        binders=parse_binders(f"(x y : ℝ) (h₀ : {eq('y', mul(c, 'x'))}) (h₁ : {eq('x', v + 1)})"),
                        concl=eq("y", mul(c, v + 1))),
                Variant("swapped_sides", "sides swapped", concl=eq(mul(c, v), "y"), proof=f"Eq.symm ({proof})"),
            )))
    for k, v in enumerate([4, 9]):
        out.append(stmt(
            f"mathd_algebra_{210 + k}", f"(x : ℝ) (h₀ : Ne x 0) (h₁ : {eq(mul('x', 'x'), v)})",
            f"And (Ne x 0) ({eq(mul('x', 'x'), v)})", "And.intro h₀ h₁", "reals",
            unfold=(("Ne x 0", "Not (Eq x 0)"), ("ℝ", "Real")),
            neighbours=(Variant("changed_constant", "`x ≠ 1` for `x ≠ 0`",
                                binders=parse_binders(f"(x : ℝ) (h₀ : Ne x 1) (h₁ : {eq(mul('x', 'x'), v)})"),
                                concl=f"And (Ne x 1) ({eq(mul('x', 'x'), v)})"),)))
    lt_true = "instance (priority := 2000) ltTrue : LT Real := LT.mk (fun _ _ => True)\n"
    for k, (side, other) in enumerate([("b", "a"), ("a", "b")]):
        out.append(stmt(
            f"mathd_algebra_{220 + k}", f"(a b : ℝ) (h₀ : And ({lt(0, 'a')}) ({lt(0, 'b')}))", lt(0, side),
            "h₀.2" if side == "b" else "h₀.1", "reals", override=lt_true,
            unfold=((lt(0, side), f"And (LE.le 0 {side}) (Ne {side} 0)"),),
            neighbours=(Variant("other_conclusion", f"`0 < {other}`", concl=lt(0, other),
                                proof="h₀.1" if side == "b" else "h₀.2"),)))
    for k, (c, x) in enumerate([(2, 4), (5, 3)]):
        rhs = lambda t: add(mul(c, t), 3)  # noqa: E731
        out.append(stmt(
            f"mathd_algebra_{230 + k}", f"(f : ℝ → ℝ) (h₀ : ∀ x, {eq('f x', rhs('x'))})", eq(f"f {x}", rhs(x)),
            f"h₀ {x}", "reals", unfold=(("ℝ", "Real"),),
            neighbours=(Variant("changed_constant", "`f` at another point", concl=eq(f"f {x + 1}", rhs(x + 1)),
                                proof=f"h₀ {x + 1}"),)))
    for k, v in enumerate([7, 12]):
        out.append(stmt(
            f"mathd_algebra_{240 + k}", f"(n : ℕ) (x : ℝ) (h₀ : {eq('x', 'n')}) (h₁ : {eq('n', v)})", eq("x", v),
            "Eq.trans h₀ (congrArg Real.ofNat h₁)", "reals", unfold=(("ℝ", "Real"), ("ℕ", "Nat")),
            honest=(Variant("explicit_coercion", "the coercion `↑n` written as the function it unfolds to",
                            binders=parse_binders(f"(n : ℕ) (x : ℝ) (h₀ : Eq x (Real.ofNat n)) (h₁ : {eq('n', v)})")),),
            neighbours=(Variant("changed_constant", "another value",
                                binders=parse_binders(f"(n : ℕ) (x : ℝ) (h₀ : {eq('x', 'n')}) (h₁ : {eq('n', v + 1)})"),
                                concl=eq("x", v + 1)),)))
    out.append(stmt(
        "mathd_numbertheory_160", f"(n : ℕ) (z : ℤ) (h₀ : {eq('z', 'n')}) (h₁ : {eq('n', 5)})", eq("z", 5),
        "Eq.trans h₀ (congrArg Int.ofNat h₁)", "reals", unfold=(("ℤ", "Int"), ("ℕ", "Nat")),
        honest=(Variant("explicit_coercion", "the coercion `↑n` written as the function it unfolds to",
                        binders=parse_binders(f"(n : ℕ) (z : ℤ) (h₀ : Eq z (Int.ofNat n)) (h₁ : {eq('n', 5)})")),),
        neighbours=(Variant("changed_constant", "`z = 6` from `n = 6`",
                            binders=parse_binders(f"(n : ℕ) (z : ℤ) (h₀ : {eq('z', 'n')}) (h₁ : {eq('n', 6)})"),
                            concl=eq("z", 6)),)))
    for k, (v, e) in enumerate([(3, 2), (2, 5)]):
        proof = f"Eq.trans h₀ (congrArg (fun (t : ℝ) => Pow.pow t {e}) h₁)"
        out.append(stmt(
            f"mathd_algebra_{260 + k}", f"(x y : ℝ) (h₀ : {eq('y', f'Pow.pow x {e}')}) (h₁ : {eq('x', v)})",
            eq("y", f"Pow.pow {v} {e}"), proof, "reals", unfold=(("ℝ", "Real"),),
            neighbours=(Variant("changed_constant", "another exponent",
                                binders=parse_binders(f"(x y : ℝ) (h₀ : {eq('y', f'Pow.pow x {e + 1}')})"
                                                      f" (h₁ : {eq('x', v)})"),
                                concl=eq("y", f"Pow.pow {v} {e + 1}"),
                                proof=f"Eq.trans h₀ (congrArg (fun (t : ℝ) => Pow.pow t {e + 1}) h₁)"),)))
    out.append(stmt(
        "mathd_algebra_250", f"(x y : ℝ) (h₀ : {le('x', 'y')}) (h₁ : {eq('y', 3)})", le("x", 3),
        "Eq.rec (motive := fun t _ => LE.le x t) h₀ h₁", "reals",
        override="instance (priority := 2000) leTrue : LE Real := LE.mk (fun _ _ => True)\n",
        unfold=((le("x", 3), "Exists (fun d => Eq 3 (Real.add x d))"),),
        neighbours=(Variant("changed_constant", "`x ≤ 4` from `y = 4`",
                            binders=parse_binders(f"(x y : ℝ) (h₀ : {le('x', 'y')}) (h₁ : {eq('y', 4)})"),
                            concl=le("x", 4)),)))
    return out


def logic() -> list[Stmt]:
    """`↔`, `¬`, `∃`, `∨` as the functions they stand for."""
    swap = "fun h => And.intro h.2 h.1"
    return [
        stmt("exercise_1_2_1", "(p q : Prop)", "Iff (And p q) (And q p)", f"Iff.intro ({swap}) ({swap})", "logic",
             neighbours=(Variant("swapped_sides", "`q ∧ p ↔ p ∧ q`", concl="Iff (And q p) (And p q)"),)),
        stmt("exercise_1_2_2", "(p q : Prop) (hp : p) (hnq : Not q)", "Not (Iff p q)", "fun h => hnq (h.mp hp)",
             "logic", unfold=(("Not (Iff p q)", "Iff p q → False"),),
             neighbours=(Variant("swapped_sides", "`¬ (q ↔ p)`", concl="Not (Iff q p)",
                                 proof="fun h => hnq (h.mpr hp)"),)),
        stmt("exercise_1_2_3", "{α : Type u} (P : α → Prop) (a : α) (h : P a)", "Exists (fun x => P x)",
             "Exists.intro a h", "logic",
             neighbours=(Variant("other_conclusion", "`P a`, the hypothesis", concl="P a", proof="h"),)),
        stmt("exercise_1_2_4", "{α : Type u} (P : α → Prop)", "Not (Exists (fun x => And (P x) (Not (P x))))",
             "fun h => Exists.rec (motive := fun _ => False) (fun x hx => hx.2 hx.1) h", "logic",
             unfold=(("Not (Exists (fun x => And (P x) (Not (P x))))",
                      "Exists (fun x => And (P x) (P x → False)) → False"),)),
        stmt("exercise_1_2_5", "{α : Type u} (P Q : α → Prop) (h : ∀ x, P x → Q x) (h' : Exists (fun x => P x))",
             "Exists (fun x => Q x)",
             "Exists.rec (motive := fun _ => Exists (fun x => Q x)) (fun x hx => Exists.intro x (h x hx)) h'",
             "logic", neighbours=(Variant("other_conclusion", "`∃ x, P x`, the hypothesis",
                                          concl="Exists (fun x => P x)", proof="h'"),)),
        stmt("exercise_1_2_6", "(p q : Prop) (h : Or p q)", "Or q p",
             "Or.rec (motive := fun _ => Or q p) (fun hp => Or.inr hp) (fun hq => Or.inl hq) h", "logic",
             neighbours=(Variant("swapped_sides", "`p ∨ q`, the hypothesis", concl="Or p q", proof="h"),)),
        stmt("exercise_1_2_7", "{α : Type u} (P : α → Prop) (a : α) (h : Not (P a))", "Not (∀ x, P x)",
             "fun hall => h (hall a)", "logic", unfold=(("Not (∀ x, P x)", "(∀ x, P x) → False"),),
             neighbours=(Variant("other_conclusion", "`¬ P a`, the hypothesis", concl="Not (P a)", proof="h"),)),
        stmt("exercise_1_2_8", "(p q r : Prop) (h₁ : Iff p q) (h₂ : Iff q r)", "Iff p r",
             "Iff.intro (fun hp => h₂.mp (h₁.mp hp)) (fun hr => h₁.mpr (h₂.mpr hr))", "logic",
             neighbours=(Variant("swapped_sides", "`r ↔ p`", concl="Iff r p",
                                 proof="Iff.intro (fun hr => h₁.mpr (h₂.mpr hr)) (fun hp => h₂.mp (h₁.mp hp))"),)),
        stmt("exercise_1_2_9", "(p q : Prop) (hp : p) (hq : q)", "And p (Or q (Not p))", "And.intro hp (Or.inl hq)",
             "logic", neighbours=(Variant("changed_term", "`p ∧ (¬p ∨ q)`", concl="And p (Or (Not p) q)",
                                          proof="And.intro hp (Or.inr hq)"),)),
    ]


def subgroups() -> list[Stmt]:
    """A structure over a class (`Subgroup G`) with its projections, `∀ x ∈ H`, `∃ x ∈ H`, `[Fintype G]`."""
    g = "{G : Type u} [Group G]"
    fin = "{G : Type u} [Group G] [Fintype G] (hG : " + eq("Fintype.card G", 351) + ")"
    carrier = (("Mem.mem H ", "Mem.mem H.carrier "),)
    return [
        stmt("exercise_3_2_1", f"{g} (H : Subgroup G) {{a b : G}} (ha : {mem('H', 'a')}) (hb : {mem('H', 'b')})",
             mem("H", mul("a", "b")), "H.mul_mem ha hb", "subgroups", unfold=carrier, override=SUBGROUP_MEM,
             neighbours=(Variant("swapped_sides", "`b * a ∈ H`", concl=mem("H", mul("b", "a")),
                                 proof="H.mul_mem hb ha"),)),
        stmt("exercise_3_2_2", f"{g} (H : Subgroup G)", mem("H", 1), "H.one_mem", "subgroups", unfold=carrier,
             override=SUBGROUP_MEM),
        stmt("exercise_3_2_3", f"{g} (H : Subgroup G) (hH : Subgroup.Normal H) (n g : G) (hn : {mem('H', 'n')})",
             mem("H", mul(mul("g", "n"), inv("g"))), "hH n g hn", "subgroups", override=SUBGROUP_MEM,
             unfold=(("(hH : Subgroup.Normal H)",
                      "(hH : ∀ n g : G, Mem.mem H n → Mem.mem H (Mul.mul (Mul.mul g n) (Inv.inv g)))"),)),
        stmt("exercise_3_2_4", f"{fin} (H : Subgroup G) {{a : G}} (ha : {mem('H', 'a')})", mem("H", mul("a", "a")),
             "H.mul_mem ha ha", "subgroups", unfold=carrier, override=SUBGROUP_MEM,
             neighbours=(Variant("changed_constant", "`card G = 352`",
                                 binders=parse_binders(f"{fin.replace('351', '352')} (H : Subgroup G) {{a : G}}"
                                                       f" (ha : {mem('H', 'a')})")),)),
        stmt("exercise_3_2_5", f"{fin} (H : Subgroup G) (a : G) (ha : {mem('H', 'a')})",
             mem("H", mul(mul("a", "a"), "a")), "H.mul_mem (H.mul_mem ha ha) ha", "subgroups", unfold=carrier,
             override=SUBGROUP_MEM,
             neighbours=(Variant("other_conclusion", "`a * a ∈ H`", concl=mem("H", mul("a", "a")),
                                 proof="H.mul_mem ha ha"),)),
        stmt("exercise_3_2_6", f"{g} (H K : Subgroup G) {{a : G}} (ha : {mem('H', 'a')})"
             f" (hK : ∀ x, {mem('H', 'x')} → {mem('K', 'x')})", mem("K", mul("a", "a")), "hK _ (H.mul_mem ha ha)",
             "subgroups", override=SUBGROUP_MEM,
             neighbours=(Variant("other_conclusion", "`a * a ∈ H`", concl=mem("H", mul("a", "a")),
                                 proof="H.mul_mem ha ha"),)),
        stmt("exercise_3_2_7", f"{g} (H : Subgroup G)", f"∀ x, {mem('H', 'x')} → {mem('H', mul('x', 1))}",
             "fun x hx => H.mul_mem hx H.one_mem", "subgroups", unfold=carrier,
             neighbours=(Variant("changed_term", "`1 * x ∈ H`", concl=f"∀ x, {mem('H', 'x')} → {mem('H', mul(1, 'x'))}",
                                 proof="fun x hx => H.mul_mem H.one_mem hx"),)),
        stmt("exercise_3_2_8", f"{g} (H : Subgroup G)",
             f"Exists (fun x => And ({mem('H', 'x')}) ({eq(mul('x', 'x'), 'x')}))",
             "Exists.intro 1 (And.intro H.one_mem (mul_one 1))", "subgroups", unfold=carrier),
    ]


def add_monoids() -> list[Stmt]:
    """`+` and `0` in an `AddCommMonoid`."""
    m = "{M : Type u} [AddCommMonoid M]"
    comm, zero = "AddCommMonoid.add_comm", "AddCommMonoid.add_zero"
    return [
        stmt("exercise_4_1_1", f"{m} (a b : M)", eq(add("a", "b"), add("b", "a")), f"{comm} a b", "add_monoids",
             unfold=NOTATION),
        stmt("exercise_4_1_2", f"{m} (a : M)", eq(add("a", 0), "a"), f"{zero} a", "add_monoids", unfold=NOTATION,
             neighbours=(Variant("swapped_sides", "`a = a + 0`", concl=eq("a", add("a", 0)),
                                 proof=f"Eq.symm ({zero} a)"),)),
        stmt("exercise_4_1_3", f"{m} (a : M)", eq(add(0, "a"), "a"), f"Eq.trans ({comm} 0 a) ({zero} a)",
             "add_monoids", unfold=NOTATION,
             neighbours=(Variant("changed_term", "`a + 0 = a`", concl=eq(add("a", 0), "a"), proof=f"{zero} a"),)),
        stmt("exercise_4_1_4", f"{m} (a b : M)", eq(add(add("a", "b"), 0), add("b", "a")),
             f"Eq.trans ({zero} _) ({comm} a b)", "add_monoids", unfold=NOTATION,
             neighbours=(Variant("changed_term", "`a + b + 0 = a + b`", concl=eq(add(add("a", "b"), 0), add("a", "b")),
                                 proof=f"{zero} _"),)),
        stmt("exercise_4_1_5", f"{m} (a b : M) (h : {eq(add('a', 'b'), 0)})", eq(add("b", "a"), 0),
             f"Eq.trans ({comm} b a) h", "add_monoids", unfold=NOTATION,
             neighbours=(Variant("other_conclusion", "`a + b = 0`, the hypothesis", concl=eq(add("a", "b"), 0),
                                 proof="h"),)),
        stmt("exercise_4_1_6", f"{m} (a b c : M)", eq(add(add("a", "b"), "c"), add("c", add("a", "b"))),
             f"{comm} _ c", "add_monoids", unfold=NOTATION),
    ]


def header_variable() -> list[Stmt]:
    """Statements over the header's `variable {ι : Type u}`."""
    out = [
        stmt("exercise_5_1", "(f : ι → ι) (x : ι) (h : ∀ y, Eq (f y) y)", eq("f (f x)", "x"),
             "Eq.trans (h (f x)) (h x)", "header_variable",
             neighbours=(Variant("other_conclusion", "`f x = x`", concl=eq("f x", "x"), proof="h x"),)),
        stmt("exercise_5_2", "(f g : ι → ι) (h : ∀ y, Eq (f y) (g y)) (x : ι)", eq("f x", "g x"), "h x",
             "header_variable",
             neighbours=(Variant("swapped_sides", "`g x = f x`", concl=eq("g x", "f x"), proof="Eq.symm (h x)"),)),
        stmt("exercise_5_3", "(P : ι → Prop) (x : ι) (h : P x)", "Exists (fun y => P y)", "Exists.intro x h",
             "header_variable"),
        stmt("exercise_5_4", "(S : Set ι) (x : ι) (hx : Mem.mem S x)", mem("(Set.inter S S)", "x"),
             "And.intro hx hx", "header_variable", override=SET_MEM),
    ]
    own = "`{ι : Type v}` bound by the theorem itself"
    return [replace(s, honest=(Variant("own_binder_for_header_variable", own,
                                       binders=parse_binders("{ι : Type v}") + s.binders),)) for s in out]


FAMILIES: tuple[Callable[[], list[Stmt]], ...] = (
    group_laws, group_hypotheses, comm_groups, orders, sets, functions, nat_numerals, reals, logic, subgroups,
    add_monoids, header_variable,
)


def statements() -> list[Stmt]:
    return [s for family in FAMILIES for s in family()]


# -- rewrites that keep the statement (honest) and attempts that change it -----------------------

UNIVERSE = re.compile(r"\b(Type|Sort) ([uvw])\b")
BARE_TYPE = re.compile(r"\bType\b(?! [uvw]\b)")
STRONGER_CLASS = {"Group": "CommGroup", "Preorder": "PartialOrder", "Monoid": "Group"}


def rename(s: Stmt, mapping: dict[str, str]) -> Stmt:
    """Every binder name (and every use of it: in types, the conclusion, the proof) renamed."""
    pat = re.compile(r"(?<![\w'.])(" + "|".join(map(re.escape, sorted(mapping, key=len, reverse=True))) + r")(?![\w'])")

    def sub(t: str) -> str:
        return pat.sub(lambda m: mapping[m.group(1)], t)

    bs = tuple(Binder(b.bracket, tuple(mapping.get(n, n) for n in b.names), sub(b.type)) for b in s.binders)
    return replace(s, binders=bs, concl=sub(s.concl), proof=sub(s.proof))


def renamed_binders(s: Stmt) -> str | None:
    names = [n for b in s.binders for n in b.names]
    return rename(s, {n: f"{n}_r" for n in names}).code() if names else None


def named_instance(s: Stmt) -> str | None:
    if not any(b.bracket == "[" and not b.names for b in s.binders):
        return None
    bs = tuple(Binder("[", (f"inst{i}",), b.type) if b.bracket == "[" and not b.names else b
               for i, b in enumerate(s.binders))
    return s.code(binders=bs)


def anonymous_instance(s: Stmt) -> str | None:
    if not any(b.bracket == "[" and b.names for b in s.binders):
        return None
    return s.code(binders=tuple(Binder("[", (), b.type) if b.bracket == "[" else b for b in s.binders))


def binder_kinds(s: Stmt) -> str | None:
    """`( )` and `{ }` swapped, an instance binder made explicit: Lean takes any local of class type as
    an instance, and the statement's type does not record how its arguments are passed."""
    flip = {"(": "{", "{": "(", "[": "("}
    bs = tuple(Binder(flip[b.bracket], b.names or (f"inst{i}",), b.type) for i, b in enumerate(s.binders))
    return s.code(binders=bs) if bs else None


def forall_after_colon(s: Stmt) -> str | None:
    k = len(s.binders)
    while k and s.binders[k - 1].bracket == "(":
        k -= 1
    moved = s.binders[k:]
    if not moved:
        return None
    names = " ".join(n for b in moved for n in b.names)
    concl = "∀ " + " ".join(b.text for b in moved) + f", {s.concl}"
    return s.code(binders=s.binders[:k], concl=concl, proof=f"fun {names} => {s.proof}")


def unfolded(s: Stmt) -> str | None:
    if not s.unfold:
        return None
    bs, concl = " ".join(b.text for b in s.binders), s.concl
    for old, new in s.unfold:
        bs, concl = bs.replace(old, new), concl.replace(old, new)
    return s.code(binders=parse_binders(bs), concl=concl)


def universe_map(s: Stmt, mapping: dict[str, str]) -> tuple[Binder, ...]:
    return tuple(replace(b, type=UNIVERSE.sub(lambda m: f"{m.group(1)} {mapping[m.group(2)]}", b.type))
                 for b in s.binders)


def universes(s: Stmt) -> list[str]:
    return list(dict.fromkeys(m.group(2) for b in s.binders for m in UNIVERSE.finditer(b.type)))


def universe_declared(s: Stmt) -> str | None:
    us = universes(s)
    mapping = {u: f"{u}_1" for u in us}  # the names Lean gives to `Type*`'s universes
    return s.code(binders=universe_map(s, mapping), prefix=f"universe {' '.join(mapping.values())}\n") if us else None


def universe_explicit(s: Stmt) -> str | None:
    us = universes(s)
    mapping = {u: f"ℓ{i}" for i, u in enumerate(us)}
    return s.code(name=f"{s.name}.{{{', '.join(mapping.values())}}}", binders=universe_map(s, mapping)) if us else None


def universe_swapped_names(s: Stmt) -> str | None:
    us = universes(s)
    if len(us) < 2:
        return None
    return s.code(binders=universe_map(s, {"u": "v", "v": "u", "w": "w"} if "w" not in us else
                                       {"u": "v", "v": "w", "w": "u"}))


def more_polymorphic(s: Stmt) -> str | None:
    if not any(BARE_TYPE.search(b.type) for b in s.binders):
        return None
    return s.code(binders=tuple(replace(b, type=BARE_TYPE.sub("Type u", b.type)) for b in s.binders))


def helper_lemma(s: Stmt) -> str:
    args = "".join(f" {n}" for n in s.explicit_names)
    return s.code(name=f"{s.name}_aux") + "\n" + s.code(proof=f"{s.name}_aux{args}")


def variable_binders(s: Stmt) -> str | None:
    k = 0
    while k < len(s.binders) and (s.binders[k].bracket == "[" or UNIVERSE.match(s.binders[k].type)
                                  or BARE_TYPE.match(s.binders[k].type)):
        k += 1
    if not k:
        return None
    head = " ".join(b.text for b in s.binders[:k])
    return f"variable {head}\n" + s.code(binders=s.binders[k:])


def as_def(s: Stmt) -> str:
    return s.code(keyword="def")


HONEST: dict[str, tuple[Callable[[Stmt], str | None], str]] = {
    "renamed_binders": (renamed_binders, "every binder renamed"),
    "named_instance": (named_instance, "`[inst : Group G]` for `[Group G]`"),
    "anonymous_instance": (anonymous_instance, "`[Group G]` for `[hG : Group G]`"),
    "binder_kinds": (binder_kinds, "explicit and implicit binders swapped, instance binders explicit"),
    "forall_after_colon": (forall_after_colon, "trailing binders moved after the colon as `∀`"),
    "unfolded": (unfolded, "a definition, instance or `abbrev` of the header unfolded in the statement"),
    "universe_declared": (universe_declared, "universes renamed `u_1`, declared with `universe`"),
    "universe_explicit": (universe_explicit, "universes renamed, listed as `NAME.{ℓ0, ...}`"),
    "universe_swapped_names": (universe_swapped_names, "universe names permuted (their order changes)"),
    "more_polymorphic": (more_polymorphic, "`Type u` for `Type`: the candidate specialises to the reference"),
    "helper_lemma": (helper_lemma, "the statement proved first as a helper lemma"),
    "variable_binders": (variable_binders, "leading type and instance binders as `variable`"),
    "as_def": (as_def, "a `def` of the proposition instead of a `theorem`"),
}


def extra_hypothesis(s: Stmt) -> str:
    return s.code(binders=s.binders + parse_binders(f"(hextra : {s.concl})"), proof="hextra")


def stronger_class(s: Stmt) -> str | None:
    for i, b in enumerate(s.binders):
        cls, _, rest = b.type.partition(" ")
        if b.bracket == "[" and cls in STRONGER_CLASS:
            bs = s.binders[:i] + (replace(b, type=f"{STRONGER_CLASS[cls]} {rest}"),) + s.binders[i + 1 :]
            return s.code(binders=bs)
    return None


def specialised_universe(s: Stmt) -> str | None:
    if not universes(s):
        return None
    fixed = {"Type": "Type", "Sort": "Sort 1"}
    return s.code(binders=tuple(replace(b, type=UNIVERSE.sub(lambda m: fixed[m.group(1)], b.type)) for b in s.binders))


def other_instance(s: Stmt) -> str | None:
    return s.code(prefix=s.override, proof="True.intro") if s.override else None


def with_axiom(s: Stmt) -> str:
    args = "".join(f" {n}" for n in s.explicit_names)
    sig = signature("axiom", f"{s.name}_cheat", s.binders, s.concl)
    return f"{sig}\n" + s.code(proof=f"{s.name}_cheat{args}")


def wrong_name(s: Stmt) -> str:
    return s.code(name=f"{s.name}_alt")


WRONG: dict[str, tuple[Callable[[Stmt], str | None], str]] = {
    "extra_hypothesis": (extra_hypothesis, "a weaker statement: the conclusion assumed as a hypothesis"),
    "stronger_class": (stronger_class, "a weaker statement: a class with more axioms (`CommGroup` for `Group`)"),
    "specialised_universe": (specialised_universe, "a weaker statement: `Type` for `Type u`"),
    "other_instance": (other_instance, "the same text under a local instance that makes it trivial"),
    "axiom": (with_axiom, "the statement declared as an axiom"),
    "wrong_name": (wrong_name, "the right proof under another name"),
}


Mode = Literal["proof", "code"]


@dataclass(frozen=True)
class Case:
    id: str
    mode: Mode
    statement: str  # the reference, ending in `:=`
    attempt: str  # the proof (proof mode) or the whole code (code mode)
    proved: bool  # whether the verifier must say `proved`
    kind: str
    why: str


def least_used(options: list[tuple[str, str, str]], used: Counter) -> tuple[str, str, str]:
    """The option whose kind has been chosen least often so far (first on ties): kinds spread evenly."""
    return min(options, key=lambda o: used[o[0]])


def build_cases() -> list[Case]:
    """For each statement: its proof (proof mode), one honest rewrite and one wrong attempt (code mode, or
    `sorryAx` in proof mode): a neighbouring statement of its family for every other statement, a weaker
    variant or an outright cheat for the rest. Kinds are spread evenly (`least_used`)."""
    out: list[Case] = []
    used: Counter = Counter()
    for i, s in enumerate(statements()):
        ref = s.reference
        out.append(Case(f"{s.name}__proof", "proof", ref, f"\n  {s.proof}", True, "proof", "the reference's proof"))
        honest = [(k, code, why) for k, (fn, why) in HONEST.items() if (code := fn(s)) is not None]
        honest += [(v.kind, s.variant_code(v), v.why) for v in s.honest]
        near = [(v.kind, s.variant_code(v), v.why) for v in s.neighbours]
        wrong = [(k, code, why) for k, (fn, why) in WRONG.items() if (code := fn(s)) is not None]
        wrong.append(("sorry", SORRY, "`sorryAx` as the proof"))
        for options, proved in ((honest, True), (near if near and i % 2 == 0 else wrong, False)):
            kind, code, why = least_used(options, used)
            used[kind] += 1
            mode: Mode = "proof" if kind == "sorry" else "code"
            attempt = f"\n  {code}" if mode == "proof" else code
            out.append(Case(f"{s.name}__{kind}", mode, ref, attempt, proved, kind, why))
    return out


CASES = build_cases()
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
