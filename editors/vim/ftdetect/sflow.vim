" sflow maintenance workflows
autocmd BufRead,BufNewFile *.sflow setfiletype sflow
