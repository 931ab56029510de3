import Lake
open Lake DSL

/-! The Lake side of leanfd: pins Lean and Mathlib so that proofs checked by `leanfd` with elan's
Lean agree with the bundled runtime's version (4.35.0). -/

package leanfd where
  leanOptions := #[⟨`autoImplicit, false⟩]

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "v4.35.0"

@[default_target]
lean_lib LeanFD where
  srcDir := "lean_project"
