-- Drives `leanfd lsp` from a headless Neovim (0.7 and 0.11) for tests/test_lsp_neovim.py:
--   nvim --headless -u NONE -c 'luafile tests/nvim/drive.lua'
-- Environment: LEANFD_CMD (the server's argv, JSON), LEANFD_FILE (a .lean file), LEANFD_LINE and
-- LEANFD_COL (the cursor, 0-based), LEANFD_OPTIONS (initializationOptions, JSON), LEANFD_EMPTY_SETTINGS
-- ("1": `settings = { leanfd = {} }`, the Lua table Neovim sends as a JSON list), LEANFD_EDIT ("1":
-- insert a line above the cursor's line while the search runs), LEANFD_OUT (where the result goes).
-- Writes {buffer, result, messages, statuses, printed, error} as JSON, then quits.
local env = vim.env
local out = { messages = {}, statuses = {}, printed = {} }

local function finish()
  vim.fn.writefile({ vim.fn.json_encode(out) }, env.LEANFD_OUT)
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  local real_print = print
  _G.print = function(...) -- the client says "Buffer ... newer than edits." this way
    table.insert(out.printed, table.concat(vim.tbl_map(tostring, { ... }), ' '))
    real_print(...)
  end
  vim.cmd('edit ' .. vim.fn.fnameescape(env.LEANFD_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  local config = {
    name = 'leanfd',
    cmd = vim.fn.json_decode(env.LEANFD_CMD),
    root_dir = vim.fn.fnamemodify(env.LEANFD_FILE, ':h'),
    init_options = vim.fn.json_decode(env.LEANFD_OPTIONS),
    settings = env.LEANFD_EMPTY_SETTINGS == '1' and { leanfd = {} } or nil,
    handlers = {
      ['window/showMessage'] = function(_, result)
        table.insert(out.messages, result.message)
      end,
      ['leanfd/status'] = function(_, result)
        table.insert(out.statuses, result)
      end,
    },
  }
  local id
  if vim.lsp.start ~= nil then -- 0.8 and later
    id = vim.lsp.start(config, { bufnr = bufnr })
  else
    id = vim.lsp.start_client(config)
    vim.lsp.buf_attach_client(bufnr, id)
  end
  -- The server's first status ("ready: openai model ...") comes once it has its settings.
  assert(vim.wait(30000, function() return #out.statuses > 0 end, 20), 'the server never reported a status')

  local line, col = tonumber(env.LEANFD_LINE), tonumber(env.LEANFD_COL)
  local answered = false
  local params = {
    command = 'leanfd.suggestTactics',
    arguments = { { uri = vim.uri_from_bufnr(bufnr), position = { line = line, character = col }, apply = true } },
  }
  local seen = #out.statuses
  vim.lsp.buf_request(bufnr, 'workspace/executeCommand', params, function(e, result)
    out.result, out.error, answered = result, e and e.message or nil, true
  end)
  if env.LEANFD_EDIT == '1' then
    -- Once the search is under way (status "busy"), the user adds a line above the theorem.
    assert(vim.wait(30000, function()
      for i = seen + 1, #out.statuses do
        if out.statuses[i].state == 'busy' then return true end
      end
      return false
    end, 10), 'the search never started')
    vim.api.nvim_buf_set_lines(bufnr, line, line, false, { '-- edited' })
  end
  assert(vim.wait(60000, function() return answered end, 20), 'no answer to workspace/executeCommand')
  vim.wait(500) -- a workspace/applyEdit sent with the answer is handled by now
  out.buffer = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  vim.lsp.stop_client(id)
  vim.wait(10000, function() return vim.lsp.get_client_by_id(id) == nil end, 50)
end)
if not ok then
  out.error = 'drive.lua: ' .. tostring(err)
end
finish()
