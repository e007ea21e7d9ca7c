" Vim syntax file
" Language: sflow (maintenance workflows over SSH)
" Filenames: *.sflow

if exists('b:current_syntax')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn case match
" Names may contain `.` and `-` (host names), so keywords match on that wider class.
syn iskeyword @,48-57,_,.,-

" Keywords are matches, not `syn keyword`, so that an attribute of the same name
" (`on = [...]` in notify, `command = "..."` in approve) is not shown as a keyword.
let s:not_attr = '\%(\s*=[=~]\@!\)\@!'
exe 'syn match sflowInclude "\<import\>' . s:not_attr . '"'
exe 'syn match sflowKeyword "\<\%(inventory\|workflow\|template\|defaults\|host\|group\|task\|rollout\|verify\|wave\|window\|windows\|parallel\|notify\|approve\|param\|secret\|capture\|expect\|per\)\>' . s:not_attr . '"'
exe 'syn match sflowClause "\<\%(on\|after\|when\|of\)\>' . s:not_attr . '"'
exe 'syn match sflowOperator "\<\%(except\|where\|and\|or\|not\|contains\)\>' . s:not_attr . '"'
exe 'syn match sflowConstant "\<all\>' . s:not_attr . '"'
syn keyword sflowBoolean true false
syn match sflowBuiltin "\<\%(prompt\|env\|command\)\ze\s*("
syn keyword sflowTodo TODO FIXME XXX NOTE contained


" A host name: an identifier with at least one `.` or `-` after its first character.
syn match sflowHost "\<[A-Za-z_][A-Za-z0-9_]*\%([.-]\+[A-Za-z0-9_]\+\)\+\>"

" Declared names.
syn match sflowDeclKeyword "\<\%(workflow\|task\|template\|verify\)\>\ze\s\+[A-Za-z_]" nextgroup=sflowDeclName skipwhite
syn match sflowDeclName "[A-Za-z_][A-Za-z0-9_]*" contained
hi def link sflowDeclKeyword sflowKeyword
syn match sflowGroupKeyword "\<\%(group\|wave\)\>\ze\s\+[A-Za-z_]" nextgroup=sflowGroupName skipwhite
syn match sflowGroupName "[A-Za-z_][A-Za-z0-9_]*" contained
hi def link sflowGroupKeyword sflowKeyword
syn match sflowHostKeyword "\<host\>\ze\s\+[A-Za-z_]" nextgroup=sflowHostName skipwhite
syn match sflowHostName "[A-Za-z_][A-Za-z0-9_.-]*" contained
hi def link sflowHostKeyword sflowKeyword

" Attributes: `name =` (but not `==` or `=~`).
syn match sflowAttribute "\<[A-Za-z_][A-Za-z0-9_]*\ze\s*=[=~]\@!"
" A parameter type (`param p: string = ...`) is not the attribute its `=` suggests.
syn match sflowParamType ":\s*\zs\<\%(string\|int\|bool\|duration\|percent\|target\)\>"

" Literals.
" Later definitions win at the same position: a duration or percentage over a plain number.
syn match sflowNumber "\<\d\+\>"
syn match sflowPercent "\<\d\+%"
syn match sflowDuration "\<\d\+\%(ms\|[smhd]\)\%(\d\+\%(ms\|[smhd]\)\)*\>"
syn match sflowOperatorSym "==\|!=\|<=\|>=\|=\~\|[<>]"

" Strings: escapes and ${...} interpolation in plain and triple-quoted strings; none in raw ones.
syn match sflowEscape "\\[\"\\nt$]" contained
syn match sflowBadEscape "\\[^\"\\nt$]" contained
syn region sflowInterpolation matchgroup=sflowInterpolationDelim start="\${" end="}" contained contains=sflowRawKeyword,sflowBoolean,sflowNumber,sflowOperator,sflowOperatorSym
syn keyword sflowRawKeyword raw contained
syn region sflowString start=+"+ skip=+\\\\\|\\"+ end=+"+ contains=sflowEscape,sflowBadEscape,sflowInterpolation,sflowWindowPart
syn region sflowTripleString start=+"""+ end=+"""+ contains=sflowEscape,sflowBadEscape,sflowInterpolation,@Spell
syn region sflowRawString start=+\<r\z(#*\)"+ end=+"\z1+

" Window specs inside strings: days, dates, times, zones.
syn match sflowWindowPart "\a\@<!\%(Mon\|Tue\|Wed\|Thu\|Fri\|Sat\|Sun\|daily\|always\)\a\@!" contained
syn match sflowWindowPart "\d\@<!\d\d\d\d-\d\d-\d\d\d\@!" contained
syn match sflowWindowPart "\d\@<!\d\{1,2}:\d\d\d\@!" contained
syn match sflowWindowPart "\a\@<!\%(UTC\|[A-Z][A-Za-z_]*\%(/[A-Za-z0-9_+-]\+\)\+\)" contained

syn match sflowComment "#.*$" contains=sflowTodo,@Spell

syn sync minlines=200

hi def link sflowComment Comment
hi def link sflowTodo Todo
hi def link sflowInclude Include
hi def link sflowKeyword Keyword
hi def link sflowClause Conditional
hi def link sflowOperator Operator
hi def link sflowOperatorSym Operator
hi def link sflowConstant Constant
hi def link sflowBoolean Boolean
hi def link sflowBuiltin Function
hi def link sflowParamType Type
hi def link sflowDeclName Function
hi def link sflowGroupName Type
hi def link sflowHostName Identifier
hi def link sflowHost Identifier
hi def link sflowAttribute Identifier
hi def link sflowDuration Number
hi def link sflowPercent Number
hi def link sflowNumber Number
hi def link sflowEscape SpecialChar
hi def link sflowBadEscape Error
hi def link sflowInterpolationDelim Delimiter
hi def link sflowRawKeyword Keyword
hi def link sflowString String
hi def link sflowTripleString String
hi def link sflowRawString String
hi def link sflowWindowPart Special

let b:current_syntax = 'sflow'

let &cpo = s:cpo_save
unlet s:cpo_save
