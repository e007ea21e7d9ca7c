" Checks the syntax groups Vim gives to the VS Code grammar samples.
" Run by test.sh: vim -Nu NONE -i NONE -Es -S test.vim
set runtimepath^=.
filetype plugin on
syntax on

let s:failures = []
let s:checks = 0

" Asserts that the first occurrence of `text` on the first line matching `line_pat`
" (or the `nth` occurrence) is highlighted as syntax group `group`.
function! s:Expect(line_pat, text, group, ...) abort
  let nth = a:0 > 0 ? a:1 : 1
  let lnum = search(a:line_pat, 'cw')
  if lnum == 0
    call add(s:failures, printf('%s: no line matches %s', expand('%:t'), a:line_pat))
    return
  endif
  let col = -1
  for i in range(nth)
    let col = stridx(getline(lnum), a:text, col + 1)
  endfor
  if col < 0
    call add(s:failures, printf('%s:%d: %s not found', expand('%:t'), lnum, a:text))
    return
  endif
  let s:checks += 1
  let got = synIDattr(synID(lnum, col + 1, 1), 'name')
  if got !=# a:group
    call add(s:failures, printf('%s:%d:%d: %s is %s, expected %s', expand('%:t'), lnum, col + 1, a:text, got, a:group))
  endif
endfunction

let s:samples = '../vscode/tests/'

execute 'edit ' . s:samples . 'os_patching.sflow'
if &filetype !=# 'sflow'
  call add(s:failures, 'ftdetect: filetype is "' . &filetype . '"')
endif
if &commentstring !=# '# %s'
  call add(s:failures, 'ftplugin: commentstring is "' . &commentstring . '"')
endif
call s:Expect('^inventory {', 'inventory', 'sflowKeyword')
call s:Expect('host bastion.fra1', 'bastion.fra1', 'sflowHostName')
call s:Expect('jump = bastion.fra1 }', 'bastion.fra1', 'sflowHost')
call s:Expect('jump = bastion.fra1 }', 'jump', 'sflowAttribute')
call s:Expect('group fleet = all', 'fleet', 'sflowGroupName')
call s:Expect('group fleet = all', 'all', 'sflowConstant')
call s:Expect('group fleet = all', 'except', 'sflowOperator')
call s:Expect('^# 1\. The seed', 'seed', 'sflowComment')
call s:Expect('^workflow os_patching', 'os_patching', 'sflowDeclName')
call s:Expect('window web_servers', 'Sun', 'sflowWindowPart')
call s:Expect('window web_servers', '01:00', 'sflowWindowPart')
call s:Expect('window web_servers', 'UTC', 'sflowWindowPart')
call s:Expect('cutoff = 10m', '10m', 'sflowDuration')
call s:Expect('max_servers = 10', '10', 'sflowNumber')
call s:Expect('task upgrade_packages on', 'upgrade_packages', 'sflowDeclName')
call s:Expect('task upgrade_packages on', 'on', 'sflowClause')
call s:Expect('task upgrade_packages on', 'after', 'sflowClause')
call s:Expect('sudo = true', 'true', 'sflowBoolean')
call s:Expect('verify = \[verify_web\]', 'verify', 'sflowAttribute')
call s:Expect('match = r"', 'ii', 'sflowRawString')
call s:Expect('match = r"', '\s', 'sflowRawString')

execute 'edit ' . s:samples . 'emergency_openssl.sflow'
call s:Expect('param openssl_pin', 'string', 'sflowParamType')
call s:Expect('waves = \[', '10%', 'sflowPercent')
call s:Expect('waves = \[', 'of', 'sflowClause')
call s:Expect('openssl=\${openssl_pin}', '${', 'sflowInterpolationDelim')
call s:Expect('window fleet = "daily', 'Europe/Berlin', 'sflowWindowPart')

execute 'edit ' . s:samples . 'ntp_standard.sflow'
call s:Expect('pool pool.ntp.org iburst', 'pool.ntp.org', 'sflowTripleString')
call s:Expect('makestep 1.0 3', '3', 'sflowTripleString')

execute 'edit ' . s:samples . 'web_triage.sflow'
call s:Expect('when disk_pct.int > 90', 'when', 'sflowClause')
call s:Expect('when disk_pct.int > 90', '90', 'sflowNumber')

execute 'edit ' . s:samples . 'constructs.sflow'
call s:Expect('^import "std/apt"', 'import', 'sflowInclude')
call s:Expect('secret sudo_pw', 'prompt', 'sflowBuiltin')
call s:Expect('approve { command', 'command', 'sflowAttribute')
call s:Expect('notify { on = ', 'on', 'sflowAttribute')
call s:Expect('run = "echo \\"', '\"', 'sflowEscape')
call s:Expect('run = "echo \\"', 'address', 'sflowInterpolation')
call s:Expect('fail(ed)?', 'fail(ed)?', 'sflowRawString')
call s:Expect('template restart_with_check', '1h30m', 'sflowDuration')

execute 'edit ' . s:samples . 'invalid.sflow'
call s:Expect('run = "echo \\q"', '\q', 'sflowBadEscape')

let s:out = $SFLOW_VIM_TEST_OUT
if empty(s:failures)
  call writefile([printf('vim syntax: %d checks passed', s:checks)], s:out)
  qall!
endif
call writefile(s:failures + [printf('vim syntax: %d of %d checks failed', len(s:failures), s:checks)], s:out)
cquit!
