# Sourced by zsh-capture.zsh in the zsh it drives, with the completion script.
PROMPT=
unsetopt autolist automenu listbeep beep
autoload -Uz compinit
compinit -D -u
source $1
zstyle ':completion:*' insert-tab false
# Tab completes as usual, between two lines <<done>>.
_capture_complete() {
	print -r -- '<<done>>'
	_main_complete "$@"
	print -r -- '<<done>>'
}
zle -C capture-complete complete-word _capture_complete
bindkey '^I' capture-complete
# compadd prints each match it is given, a directory with its /. A call
# that only fills an array (-O, -A, -D) offers nothing, and is let be.
compadd() {
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
		builtin compadd "$@"
		return
	fi
	local -a __hits
	builtin compadd -A __hits "$@"
	local h
	for h in ${(Q)__hits}; do
		[[ -d $h ]] && h+=/
		print -r -- $h
	done
	# Added for real too, or _files would go on to its next patterns.
	builtin compadd "$@"
}
print ready
