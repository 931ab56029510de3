"""Lean's vocabulary, in one table: every reader of Lean text (the syntax module, the policy, the
statement parser, the benchmark loaders, the prompt extractor, the editor's sites) draws its keywords
from here, so that a Lean upgrade that adds or renames a keyword is a change in this file only.

Read from Lean 4.35.0 (`src/Lean/Parser/Command.lean`, `Syntax.lean`, `Module.lean`, the `syntax ... :
command` of Init and Lean), Batteries and Mathlib as of that release. Pure data: imports nothing.
`KEYWORDS` says, for each word, whether an attempt may use it (None) or why the policy refuses it
(`leanfd.lean.policy`); `ATTRIBUTES`, which attributes an attempt may use and what each does.
"""

from __future__ import annotations

# Why a keyword is refused (one reason per kind of harm).
_AXIOM = "declares an axiom"
_UNSAFE = "unsafe code is not checked by the kernel"
_HEADER = "the header decides imports, the prelude and the module system"
_RUNS = "runs code during elaboration"
_REGISTERS = "registers code that runs later, while other commands (the verifier's too) are elaborated"
_SYNTAX = "defines syntax, which can change how the verifier's commands parse or print"
_WRAPS = "runs the next command in a changed context"
_UNREVIEWED = "is a command no proof needs, not reviewed for the policy"
_INTERNAL = "is one of Lean's internal commands, for building Lean itself"

# Every keyword that can begin a command in Lean 4.35 (`src/Lean/Parser/Command.lean`, `Syntax.lean`,
# `Module.lean` and the `syntax ... : command` of Init and Lean), Batteries and Mathlib, and the
# term and tactic keywords that run code: None where allowed, otherwise why it is refused. A word
# ending in `%` is one token with it (`eval%`). Checked once against the bundled Lean 4.35: every
# word of its `libleanshared.so` that Lean, at the start of a command, reads as a keyword that
# begins one is here (Lean's built-in commands; the others are declared in .olean files it lacks).
KEYWORDS: dict[str, str | None] = {
    # declarations: the kernel checks what they add, and the judge checks each target's axioms
    **dict.fromkeys(("theorem", "lemma", "def", "abbrev", "instance", "example", "structure", "class",
                     "inductive", "opaque", "mutual", "alias", "where", "extends", "deriving", "termination_by",
                     "termination_by?", "decreasing_by"), None),
    # modifiers (`partial` and `opaque` targets are refused by the judge; helpers are harmless)
    **dict.fromkeys(("private", "protected", "public", "noncomputable", "nonrec", "partial"), None),
    # scoping
    **dict.fromkeys(("namespace", "section", "end", "open", "in", "hiding", "renaming", "export", "variable",
                     "universe", "include", "omit", "local", "scoped"), None),
    # checked further: the option's name, the attributes' names
    "set_option": None,
    "attribute": None,
    # information
    **dict.fromkeys(("#check", "#check_failure", "#print", "#reduce", "#synth"), None),
    "axiom": _AXIOM,
    "init_quot": "declares the quotient type and its axiom (Lean's bootstrapping)",
    "unsafe": _UNSAFE,
    "meta": "marks code for compile-time execution, which only metaprograms need",
    **dict.fromkeys(("import", "prelude", "module"), _HEADER),
    "#exit": "stops elaboration before the verifier's checks",
    "#guard_msgs": "can hide messages, including the verifier's",
    **dict.fromkeys(("#eval", "#eval!", "#exec", "#guard", "#guard_expr", "#do", "#do_meta", "run_cmd",
                     "run_elab", "run_meta", "run_tac", "by_elab", "eval%", "initialize", "builtin_initialize",
                     "test_extern", "idbg"), _RUNS),
    **dict.fromkeys(("simproc", "dsimproc", "simproc_decl", "dsimproc_decl", "builtin_simproc", "builtin_dsimproc",
                     "builtin_simproc_decl", "builtin_dsimproc_decl", "simproc_pattern%", "builtin_simproc_pattern%",
                     "grind_propagator", "builtin_grind_propagator", "declare_config_elab",
                     "declare_command_config_elab", "declare_simp_like_tactic", "register_option",
                     "register_builtin_option", "register_simp_attr", "register_label_attr", "register_linter_set",
                     "register_parser_alias", "register_tactic_tag", "register_error_explanation", "register_hint",
                     "declare_aesop_rule_sets", "add_aesop_rules", "erase_aesop_rules",
                     "initialize_simps_projections", "initialize_simps_projections?", "set_premise_selector",
                     "set_library_suggestions", "init_grind_norm"), _REGISTERS),
    **dict.fromkeys(("macro", "macro_rules", "syntax", "elab", "elab_rules", "notation", "notation3", "infix",
                     "infixl", "infixr", "prefix", "postfix", "declare_syntax_cat", "binder_predicate", "scoped["),
                    _SYNTAX),
    **dict.fromkeys(("with_weak_namespace", "whatsnew", "count_heartbeats", "count_heartbeats!"), _WRAPS),
    **dict.fromkeys(("sudo", "unset_option", "unlock_limits"), "changes options outside the `set_option` allowlist"),
    "unif_hint": "changes how later terms elaborate",
    **dict.fromkeys(("seal", "unseal"), "changes which definitions unfold"),
    **dict.fromkeys(("compile_inductive%", "compile_def%", "suppress_compilation", "unsuppress_compilation"),
                    "changes how declarations are compiled"),
    **dict.fromkeys(("gen_injective_theorems%", "gen_cnstr_fns", "docs_to_verso", "end_local_scope",
                     "declare_uint_theorems", "declare_int_theorems", "declare_bitwise_uint_theorems",
                     "declare_bitwise_int_theorems", "declare_uint_simprocs", "declare_sint_simprocs",
                     "declare_eval_bin", "declare_eval_bin_bitwise", "declare_eval_bin_bool_pred", "elab_stx_quot",
                     "make_elab_simp_config", "make_elab_grind_config", "wait_for_cancel_once_command"), _INTERNAL),
    **dict.fromkeys(("coinductive", "inductive_fixpoint", "coinductive_fixpoint", "partial_fixpoint",
                     "irreducible_def", "add_decl_doc", "library_note", "recommended_spelling", "tactic_extension",
                     "extend_docs", "assert_not_exists", "assert_not_imported", "variable?", "variables", "recall",
                     "recall?", "proof_wanted", "mk_iff_of_inductive_prop", "reprove", "deprecated_syntax",
                     "grind_pattern", "reset_grind_attrs%", "norm_cast_add_elim", "show_panel_widgets",
                     "aux_def", "deprecate", "deprecated_module", "assert_no_sorry"), _UNREVIEWED),
}

# The attributes an attempt may use, with what each does. None runs code the attempt wrote; printing
# does not matter (the judge compares types in the kernel, not as printed), nor does compiled code
# (it matters only to `native_decide`, whose axioms the judge refuses).
ATTRIBUTES: dict[str, str] = {
    **dict.fromkeys(("simp", "norm_cast", "push_cast", "field_simps", "ext", "symm", "refl", "trans", "congr",
                     "gcongr", "mono", "continuity", "measurability", "fun_prop", "aesop", "bound", "grind"),
                    "tags a lemma for a tactic"),
    "simps": "generates simp lemmas, which the kernel checks",
    **dict.fromkeys(("reducible", "instance_reducible", "irreducible", "semireducible"),
                    "sets how eagerly a definition unfolds (the kernel ignores it)"),
    **dict.fromkeys(("instance", "class", "default_instance"), "registers an instance or a class"),
    **dict.fromkeys(("match_pattern", "induction_eliminator", "cases_eliminator", "elab_as_elim",
                     "elab_without_expected_type"), "steers elaboration"),
    **dict.fromkeys(("coe", "pp_nodot"), "steers printing"),
    **dict.fromkeys(("inline", "specialize"), "hints the compiler"),
    **dict.fromkeys(("nolint", "deprecated", "inherit_doc"), "lints and documentation"),
    "expose": "exposes a definition's body (module system)",
}

# Words of the table that never begin a command: clauses inside one.
CLAUSES = frozenset(("in", "hiding", "renaming", "where", "extends", "termination_by", "termination_by?",
                     "decreasing_by"))
# Every word that can begin a command (`scoped notation`, `local instance`, `deriving instance` too).
COMMAND_STARTS = frozenset(w for w in KEYWORDS
                           if w not in CLAUSES and not w.startswith("#") and not w.endswith(("%", "[")))

# Roles, each a tuple of the table's words, for the readers that need one kind of word.
STATEMENT_KEYWORDS = ("theorem", "lemma", "def", "abbrev")  # what a reference statement may declare
DECLARATION_KEYWORDS = (*STATEMENT_KEYWORDS, "instance", "example")  # a declaration with a body after `:=`
PROOF_KEYWORDS = ("theorem", "lemma", "example")  # a declaration whose body is a proof
MODIFIERS = ("noncomputable", "private", "protected", "partial", "unsafe", "nonrec")
IMPORT_COMMANDS = ("prelude", "import", "public", "meta")  # `public` and `meta` only before `import`
CONTEXT_COMMANDS = ("open", "set_option")
# What may follow a statement's `:=`: nothing, or the placeholder of a proof.
PROOF_PLACEHOLDERS = ((), ("by",), ("sorry",), ("by", "sorry"))
SORRY_WORDS = ("sorry", "admit")  # with `Init`, `admit` is the tactic that means `sorry`
