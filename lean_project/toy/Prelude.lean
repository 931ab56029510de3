prelude
/-! A tiny stand-in for `Init`: enough logic and arithmetic to state and prove small theorems with
the bundled Lean, which has no `Init` library. The toy benchmark and the test suite use it as header. -/
universe u v
unsafe axiom lcErased : Type
unsafe axiom lcAny : Type
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
structure And (a b : Prop) : Prop where
  intro ::
  left : a
  right : b
inductive Or (a b : Prop) : Prop where
  | inl (h : a) : Or a b
  | inr (h : b) : Or a b
inductive Exists {α : Sort u} (p : α → Prop) : Prop where
  | intro (w : α) (h : p w) : Exists p
noncomputable def False.elim {C : Sort u} (h : False) : C := False.rec (fun _ => C) h
theorem Eq.symm {α : Sort u} {a b : α} (h : Eq a b) : Eq b a :=
  Eq.rec (motive := fun x _ => Eq x a) (Eq.refl a) h
theorem Eq.trans {α : Sort u} {a b c : α} (h₁ : Eq a b) (h₂ : Eq b c) : Eq a c :=
  Eq.rec (motive := fun x _ => Eq a x) h₁ h₂
theorem congrArg {α : Sort u} {β : Sort v} {a b : α} (f : α → β) (h : Eq a b) : Eq (f a) (f b) :=
  Eq.rec (motive := fun x _ => Eq (f a) (f x)) (Eq.refl (f a)) h
inductive N : Type where
  | zero : N
  | succ (n : N) : N
noncomputable def N.add (n m : N) : N := N.rec n (fun _ ih => N.succ ih) m
noncomputable def N.mul (n m : N) : N := N.rec N.zero (fun _ ih => N.add ih n) m
