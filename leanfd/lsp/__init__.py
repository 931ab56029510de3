"""The language server (`leanfd lsp`): verified next steps and proofs for Lean editors.

Modules, from the protocol down: `server` (pygls handlers, one per LSP method), `cache` (documents
by uri@version, verified results), `suggest` (goal, samples, Lean checks, ranking), `prompts`,
`sites` (where a suggestion goes in the text; pure) and `settings`. Importing this package does not
import pygls; `leanfd.lsp.server` does.
"""
