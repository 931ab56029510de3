/-
Root of the `LeanFD` library. `lake build` here checks that Mathlib resolved and the toolchain
matches; leanfd itself checks proofs with `lake env lean` inside this project (see README).

The toy benchmark under `toy/` is prelude-only (for the bundled Lean) and is not part of this
library.
-/
import Mathlib

namespace LeanFD

/-- A smoke test that the Mathlib pinned by `lakefile.lean` elaborates. -/
theorem smoke (a b : ℕ) : a + b = b + a := Nat.add_comm a b

end LeanFD
