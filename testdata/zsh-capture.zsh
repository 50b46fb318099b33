# zsh zsh-capture.zsh SCRIPT LINE...: what zsh completes each LINE to, its
# matches one a line, each LINE's ended by a line <<end>>. It types LINE
# and Tab into an interactive zsh on a pseudo-terminal, whose compadd
# prints the matches as it offers them (zsh-capture-init.zsh).
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z "source ${(q)0:h}/zsh-capture-init.zsh ${(q)1}"
shift
local line
repeat 20; do
	zpty -r z line || exit 2
	[[ $line == ready* ]] && break
done
[[ $line == ready* ]] || exit 2
for l in "$@"; do
	# ^U empties the line the last completion left.
	zpty -w -n z $'\C-u'"$l"$'\t'
	integer seen=0
	while zpty -r z line; do
		line=${line%$'\n'}
		line=${line%$'\r'}
		if [[ $line == *'<<done>>'* ]]; then
			(( seen++ )) && break
			continue
		fi
		(( seen )) && print -r -- $line
	done
	print -r -- '<<end>>'
done
zpty -d z
