prelude
/-! A stand-in for `import Mathlib` in tests/test_mathlike.py: the toy prelude's logic, then the shapes
ProofNet and miniF2F statements take (anonymous instance binders, `extends`, an `outParam` class,
numerals, coercions, sets, `abbrev`s, header `variable`s). The bundled Lean has no `Init`, so what the
elaborator looks up by name (`Nat`, `OfNat`, `outParam`, `CoeT`, `CoeSort`) is declared here, and
there is no notation: `+`, `=`, `∈`, `∃` are written as the functions they stand for (`binop%` and
`binrel%`, which Mathlib's notations expand to, are built into Lean and can be written directly). -/
-- Without `PUnit` no `casesOn` is generated, and once `Nat` exists Lean builds each inductive's
-- `ctorIdx` from its `casesOn` (Lean 4.35, `mkCtorIdx`): off, as nothing here needs it.
set_option genCtorIdx false
universe u v w
-- The compiler's placeholders: without them, a computable definition (an instance) is an error.
unsafe axiom lcErased : Type
unsafe axiom lcAny : Type
unsafe axiom lcVoid : Type
inductive Bool : Type where
  | false : Bool
  | true : Bool
axiom sorryAx (α : Sort u) (synthetic : Bool) : α
inductive Eq {α : Sort u} : α → α → Prop where
  | refl (a : α) : Eq a a
inductive True : Prop where
  | intro : True
inductive False : Prop
def Not (a : Prop) : Prop := a → False
@[reducible] def Ne {α : Sort u} (a b : α) : Prop := Not (Eq a b)
structure And (a b : Prop) : Prop where
  intro ::
  left : a
  right : b
inductive Or (a b : Prop) : Prop where
  | inl (h : a) : Or a b
  | inr (h : b) : Or a b
structure Iff (a b : Prop) : Prop where
  intro ::
  mp : a → b
  mpr : b → a
inductive Exists {α : Sort u} (p : α → Prop) : Prop where
  | intro (w : α) (h : p w) : Exists p
noncomputable def False.elim {C : Sort u} (h : False) : C := False.rec (fun _ => C) h
theorem Eq.symm {α : Sort u} {a b : α} (h : Eq a b) : Eq b a :=
  Eq.rec (motive := fun x _ => Eq x a) (Eq.refl a) h
theorem Eq.trans {α : Sort u} {a b c : α} (h₁ : Eq a b) (h₂ : Eq b c) : Eq a c :=
  Eq.rec (motive := fun x _ => Eq a x) h₁ h₂
theorem congrArg {α : Sort u} {β : Sort v} {a b : α} (f : α → β) (h : Eq a b) : Eq (f a) (f b) :=
  Eq.rec (motive := fun x _ => Eq (f a) (f x)) (Eq.refl (f a)) h
theorem Iff.refl (a : Prop) : Iff a a := Iff.intro (fun h => h) (fun h => h)
noncomputable def absurd {a : Prop} {b : Sort v} (h₁ : a) (h₂ : Not a) : b := False.elim (h₂ h₁)

-- Functions
@[reducible] def outParam (α : Sort u) : Sort u := α
def Function.comp {α : Sort u} {β : Sort v} {δ : Sort w} (f : β → δ) (g : α → β) : α → δ := fun x => f (g x)
def Function.Injective {α : Sort u} {β : Sort v} (f : α → β) : Prop := ∀ a₁ a₂, Eq (f a₁) (f a₂) → Eq a₁ a₂
def Function.Surjective {α : Sort u} {β : Sort v} (f : α → β) : Prop := ∀ b, Exists (fun a => Eq (f a) b)

-- Natural numbers: Lean types a numeral's raw literal as `Nat` and elaborates `2` as
-- `@OfNat.ofNat _ 2 _`, found by these names. `Nat.add` and `Nat.mul` are defined as `Init` defines
-- them: the kernel computes them on literals with its own arithmetic.
inductive Nat : Type where
  | zero : Nat
  | succ (n : Nat) : Nat
class OfNat (α : Type u) (_ : Nat) where
  ofNat : α
instance instOfNatNat (n : Nat) : OfNat Nat n := OfNat.mk n
attribute [default_instance] instOfNatNat
protected noncomputable def Nat.add (n m : Nat) : Nat := Nat.rec n (fun _ ih => Nat.succ ih) m
protected noncomputable def Nat.mul (n m : Nat) : Nat := Nat.rec Nat.zero (fun _ ih => Nat.add ih n) m
inductive Nat.le (n : Nat) : Nat → Prop where
  | refl : Nat.le n n
  | step {m : Nat} : Nat.le n m → Nat.le n (Nat.succ m)
theorem Nat.le_trans {n m k : Nat} (h₁ : Nat.le n m) (h₂ : Nat.le m k) : Nat.le n k :=
  Nat.le.rec (motive := fun k _ => Nat.le n k) h₁ (fun _ ih => Nat.le.step ih) h₂
-- `ℕ` is notation in Mathlib; here an abbreviation, so that `Nat` in its place is the same statement.
abbrev ℕ : Type := Nat

-- Operations, one class each, as Mathlib's anonymous instance binders use them
class Zero (α : Type u) where
  zero : α
class One (α : Type u) where
  one : α
class Add (α : Type u) where
  add : α → α → α
class Mul (α : Type u) where
  mul : α → α → α
class Neg (α : Type u) where
  neg : α → α
class Sub (α : Type u) where
  sub : α → α → α
class Inv (α : Type u) where
  inv : α → α
class Div (α : Type u) where
  div : α → α → α
class Pow (α : Type u) (β : Type v) where
  pow : α → β → α
class HAdd (α : Type u) (β : Type v) (γ : outParam (Type w)) where
  hAdd : α → β → γ
class HMul (α : Type u) (β : Type v) (γ : outParam (Type w)) where
  hMul : α → β → γ
instance instHAdd {α : Type u} [Add α] : HAdd α α α := HAdd.mk Add.add
instance instHMul {α : Type u} [Mul α] : HMul α α α := HMul.mk Mul.mul
class NatCast (R : Type u) where
  natCast : Nat → R
class LE (α : Type u) where
  le : α → α → Prop
class LT (α : Type u) where
  lt : α → α → Prop
class Dvd (α : Type u) where
  dvd : α → α → Prop
instance (priority := 300) Zero.toOfNat0 {α : Type u} [Zero α] : OfNat α Nat.zero := OfNat.mk Zero.zero
instance (priority := 200) One.toOfNat1 {α : Type u} [One α] : OfNat α (Nat.succ Nat.zero) := OfNat.mk One.one
-- Mathlib asks `Nat.AtLeastTwo n` too; the priorities above pick `0` and `1` first.
instance (priority := 100) instOfNat {R : Type u} {n : Nat} [NatCast R] : OfNat R n := OfNat.mk (NatCast.natCast n)

noncomputable instance : Add Nat := Add.mk Nat.add
noncomputable instance : Mul Nat := Mul.mk Nat.mul
instance : LE Nat := LE.mk Nat.le
instance : LT Nat := LT.mk (fun n m => Nat.le (Nat.succ n) m)
instance : Dvd Nat := Dvd.mk (fun a b => Exists (fun c => Eq b (Nat.mul a c)))
def Nat.Prime (p : Nat) : Prop := And (LE.le 2 p) (∀ m, Dvd.dvd m p → Or (Eq m 1) (Eq m p))

-- Algebraic and order structures, with `extends`
class Semigroup (G : Type u) extends Mul G where
  mul_assoc : ∀ a b c : G, Eq (Mul.mul (Mul.mul a b) c) (Mul.mul a (Mul.mul b c))
class Monoid (M : Type u) extends Semigroup M, One M where
  one_mul : ∀ a : M, Eq (Mul.mul 1 a) a
  mul_one : ∀ a : M, Eq (Mul.mul a 1) a
class Group (G : Type u) extends Monoid G, Inv G where
  inv_mul_cancel : ∀ a : G, Eq (Mul.mul (Inv.inv a) a) 1
class CommGroup (G : Type u) extends Group G where
  mul_comm : ∀ a b : G, Eq (Mul.mul a b) (Mul.mul b a)
class AddCommMonoid (M : Type u) extends Add M, Zero M where
  add_comm : ∀ a b : M, Eq (Add.add a b) (Add.add b a)
  add_zero : ∀ a : M, Eq (Add.add a 0) a
class Preorder (α : Type u) extends LE α, LT α where
  le_refl : ∀ a : α, LE.le a a
  le_trans : ∀ a b c : α, LE.le a b → LE.le b c → LE.le a c
class PartialOrder (α : Type u) extends Preorder α where
  le_antisymm : ∀ a b : α, LE.le a b → LE.le b a → Eq a b
class Fintype (α : Type u) where
  size : Nat
def Fintype.card (α : Type u) [inst : Fintype α] : Nat := inst.size
theorem mul_one {M : Type u} [Monoid M] (a : M) : Eq (Mul.mul a 1) a := Monoid.mul_one a
theorem one_mul {M : Type u} [Monoid M] (a : M) : Eq (Mul.mul 1 a) a := Monoid.one_mul a
theorem le_refl {α : Type u} [Preorder α] (a : α) : LE.le a a := Preorder.le_refl a
theorem le_antisymm {α : Type u} [PartialOrder α] {a b : α} (h₁ : LE.le a b) (h₂ : LE.le b a) : Eq a b :=
  PartialOrder.le_antisymm a b h₁ h₂
instance : Preorder Nat := Preorder.mk (fun _ => Nat.le.refl) (fun _ _ _ => Nat.le_trans)

-- Sets: a membership class with an `outParam`, set-builder as `setOf`, coercion of a set to a type
def Set (α : Type u) : Type u := α → Prop
class Mem (α : outParam (Type u)) (γ : Type v) where
  mem : γ → α → Prop
protected def Set.Mem {α : Type u} (s : Set α) (a : α) : Prop := (s : α → Prop) a
instance {α : Type u} : Mem α (Set α) := Mem.mk Set.Mem
def setOf {α : Type u} (p : α → Prop) : Set α := p
def Set.univ {α : Type u} : Set α := fun _ => True
def Set.inter {α : Type u} (s t : Set α) : Set α := fun a => And (Mem.mem s a) (Mem.mem t a)
def Set.Subset {α : Type u} (s t : Set α) : Prop := ∀ a, Mem.mem s a → Mem.mem t a
def Set.image {α : Type u} {β : Type v} (f : α → β) (s : Set α) : Set β :=
  fun b => Exists (fun a => And (Mem.mem s a) (Eq (f a) b))
structure Subtype {α : Sort u} (p : α → Prop) where
  val : α
  property : p val
class CoeT (α : Sort u) (_ : α) (β : Sort v) where
  coe : β
class CoeSort (α : Sort u) (β : outParam (Sort v)) where
  coe : α → β
-- Lean unfolds these when it inserts a coercion, so `(a : S)` is stated as a `Subtype` directly.
attribute [coe_decl] CoeT.coe CoeSort.coe
instance {α : Type u} : CoeSort (Set α) (Type u) := CoeSort.mk (fun s => Subtype (fun a => Mem.mem s a))
instance {α : Sort u} {p : α → Prop} (a : Subtype p) : CoeT (Subtype p) a α := CoeT.mk a.val

-- Structures with projections over a class
structure Subgroup (G : Type u) [Group G] where
  carrier : Set G
  one_mem : Mem.mem carrier 1
  mul_mem : ∀ {a b : G}, Mem.mem carrier a → Mem.mem carrier b → Mem.mem carrier (Mul.mul a b)
instance {G : Type u} [Group G] : Mem G (Subgroup G) := Mem.mk (fun H a => Mem.mem H.carrier a)
def Subgroup.Normal {G : Type u} [Group G] (H : Subgroup G) : Prop :=
  ∀ n g : G, Mem.mem H n → Mem.mem H (Mul.mul (Mul.mul g n) (Inv.inv g))

-- Integers and a stand-in for the reals, with coercions from `Nat`
inductive Int : Type where
  | ofNat : Nat → Int
  | negSucc : Nat → Int
abbrev ℤ : Type := Int
instance (n : Nat) : CoeT Nat n Int := CoeT.mk (Int.ofNat n)
instance : NatCast Int := NatCast.mk Int.ofNat
instance : Zero Int := Zero.mk (Int.ofNat 0)
instance : One Int := One.mk (Int.ofNat 1)
-- The reals as free terms: two expressions are equal by definition only when they are the same
-- expression, so a changed constant or operand is never the same statement by computation.
inductive Real : Type where
  | ofNat : Nat → Real
  | add : Real → Real → Real
  | mul : Real → Real → Real
  | sub : Real → Real → Real
  | div : Real → Real → Real
  | neg : Real → Real
  | pow : Real → Nat → Real
abbrev ℝ : Type := Real
instance : NatCast Real := NatCast.mk Real.ofNat
instance (n : Nat) : CoeT Nat n Real := CoeT.mk (Real.ofNat n)
instance : Zero Real := Zero.mk (Real.ofNat 0)
instance : One Real := One.mk (Real.ofNat 1)
instance : Add Real := Add.mk Real.add
instance : Mul Real := Mul.mk Real.mul
instance : Sub Real := Sub.mk Real.sub
instance : Div Real := Div.mk Real.div
instance : Neg Real := Neg.mk Real.neg
instance : Pow Real Nat := Pow.mk Real.pow
instance : LE Real := LE.mk (fun x y => Exists (fun d => Eq y (Real.add x d)))
instance : LT Real := LT.mk (fun x y => And (LE.le x y) (Ne x y))

-- A header `variable`, as a dataset's preamble may declare one
variable {ι : Type u}
