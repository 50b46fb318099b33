package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Shell completion: "ferry completion bash|zsh|fish" prints a script made
// from the FlagSets recv and send parse with, so that a flag added to a
// command is completed without anyone touching the scripts.

// shells are the shells ferry completion writes a script for.
var shells = []string{"bash", "fish", "zsh"}

// completionCmd is "ferry completion SHELL".
func completionCmd(args []string, stdout io.Writer) error {
	if len(args) == 1 && isHelpFlag(args[0]) {
		return flag.ErrHelp
	}
	if len(args) != 1 {
		return usagef("completion takes one shell: bash, zsh or fish")
	}
	switch args[0] {
	case "bash":
		writeBash(stdout, shellCommands())
	case "fish":
		writeFish(stdout, shellCommands())
	case "zsh":
		writeZsh(stdout, shellCommands())
	default:
		return usagef("completion: unknown shell %q (want bash, zsh or fish)", args[0])
	}
	return nil
}

// A shellFlag is one flag as a shell completes it: the short and the long
// name that set one value, and what that value is.
type shellFlag struct {
	short, long string   // without dashes; either may be empty
	usage       string   // what it does
	value       string   // the name of its value, such as ADDR; "" for a switch
	choices     []string // the values it takes, where they are a fixed few
}

// names are f's names as typed: -l, --listen.
func (f shellFlag) names() []string {
	var n []string
	if f.short != "" {
		n = append(n, "-"+f.short)
	}
	if f.long != "" {
		n = append(n, "--"+f.long)
	}
	return n
}

// A shellCommand is one of ferry's commands as a shell completes it.
type shellCommand struct {
	name    string
	aliases []string // run takes them too; completion never offers them
	usage   string
	flags   []shellFlag
	args    argKind
}

// patterns are the words that name c.
func (c shellCommand) patterns() []string { return append([]string{c.name}, c.aliases...) }

// argKind is what a command's arguments are.
type argKind int

const (
	noArgs      argKind = iota
	dirArg              // recv's DIR
	hostAndPath         // send's HOST, then paths
	commandArg          // help's COMMAND
	shellArg            // completion's SHELL
)

// flagChoices are the values of the flags that take one of a fixed few,
// by the flag's long name.
var flagChoices = map[string][]string{
	"compress": {"auto", "zstd", "s2", "none"},
}

var helpFlag = shellFlag{short: "h", long: "help", usage: "print this help"}

// topFlags are what ferry takes in place of a command.
var topFlags = []shellFlag{
	{short: "h", long: "help", usage: "print the overview"},
	{short: "V", long: "version", usage: "print the version"},
}

// shellCommands are ferry's commands, with the flags of recv and send read
// from the FlagSets they parse with.
func shellCommands() []shellCommand {
	recv, _ := recvFlags(new(common))
	send, _, _ := sendFlags(new(common))
	return []shellCommand{
		{name: "recv", aliases: []string{"receive"}, usage: "receive into a directory, or to stdout", flags: shellFlags(recv), args: dirArg},
		{name: "send", usage: "send files and directories, or stdin", flags: shellFlags(send), args: hostAndPath},
		{name: "help", usage: "print the help of a command", args: commandArg},
		{name: "completion", usage: "print a shell completion script", flags: []shellFlag{helpFlag}, args: shellArg},
		{name: "version", usage: "print the version", flags: []shellFlag{helpFlag}},
	}
}

// shellFlags are the flags of fs, a short and a long name that set the same
// variable taken as one flag, and -h, --help, which the flag package
// answers without registering.
func shellFlags(fs *flag.FlagSet) []shellFlag {
	var flags []shellFlag
	index := map[any]int{} // the variable a flag sets: its entry in flags
	fs.VisitAll(func(f *flag.Flag) {
		i, ok := index[flagVar(f)]
		if !ok {
			i = len(flags)
			index[flagVar(f)] = i
			value, usage := flag.UnquoteUsage(f)
			if isBoolFlag(f) {
				value = ""
			}
			flags = append(flags, shellFlag{usage: usage, value: value})
		}
		if len(f.Name) == 1 {
			flags[i].short = f.Name
		} else {
			flags[i].long = f.Name
			flags[i].choices = flagChoices[f.Name]
		}
	})
	slices.SortFunc(flags, func(a, b shellFlag) int {
		return strings.Compare(a.long+a.short, b.long+b.short)
	})
	return append(flags, helpFlag)
}

// flagVar is the variable f sets, as a map key: -l and --listen set the
// same one.
func flagVar(f *flag.Flag) any {
	if v := reflect.ValueOf(f.Value); v.Kind() == reflect.Pointer {
		return v.Pointer()
	}
	return f
}

// commandNamesOf are the names completion offers for commands.
func commandNamesOf(cmds []shellCommand) []string {
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	return names
}

// allNames are the names of flags as typed, each flag's short one first.
func allNames(flags []shellFlag) []string {
	var names []string
	for _, f := range flags {
		names = append(names, f.names()...)
	}
	return names
}

func writeBash(w io.Writer, cmds []shellCommand) {
	fmt.Fprint(w, `# bash completion for ferry, made by "ferry completion bash". Load it with
#     source <(ferry completion bash)
# or save it as ~/.local/share/bash-completion/completions/ferry.

# _ferry_reply sets COMPREPLY to the lines it reads, one word each,
# whatever spaces or glob characters they hold.
_ferry_reply() {
	COMPREPLY=()
	local line
	while IFS= read -r line; do
		COMPREPLY+=("$line")
	done
}

_ferry() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	# bash splits --flag=value into three words at the =.
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]]; then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
`)
	fmt.Fprintf(w, "\t\tif [[ $cur == -* ]]; then\n\t\t\t_ferry_reply < <(compgen -W '%s' -- \"$cur\")\n\t\telse\n", strings.Join(allNames(topFlags), " "))
	fmt.Fprintf(w, "\t\t\t_ferry_reply < <(compgen -W '%s' -- \"$cur\")\n\t\tfi\n", strings.Join(commandNamesOf(cmds), " "))
	fmt.Fprint(w, "\t\treturn\n\tfi\n\tcase ${COMP_WORDS[1]} in\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "\t%s)\n", strings.Join(c.patterns(), " | "))
		var valued []string
		var cases strings.Builder
		for _, f := range c.flags {
			switch {
			case f.value == "":
			case f.choices != nil:
				fmt.Fprintf(&cases, "\t\t%s)\n\t\t\t_ferry_reply < <(compgen -W '%s' -- \"$cur\")\n\t\t\treturn\n\t\t\t;;\n",
					strings.Join(f.names(), " | "), strings.Join(f.choices, " "))
			default:
				valued = append(valued, f.names()...)
			}
		}
		if len(valued) > 0 {
			// A value ferry cannot guess, such as a code: nothing to offer.
			fmt.Fprintf(&cases, "\t\t%s)\n\t\t\treturn\n\t\t\t;;\n", strings.Join(valued, " | "))
		}
		if cases.Len() > 0 {
			fmt.Fprintf(w, "\t\tcase $prev in\n%s\t\tesac\n", cases.String())
		}
		if len(c.flags) > 0 {
			fmt.Fprintf(w, "\t\tif [[ $cur == -* ]]; then\n\t\t\t_ferry_reply < <(compgen -W '%s' -- \"$cur\")\n\t\t\treturn\n\t\tfi\n", strings.Join(allNames(c.flags), " "))
		}
		switch c.args {
		case dirArg:
			fmt.Fprint(w, "\t\tcompopt -o filenames 2>/dev/null\n\t\t_ferry_reply < <(compgen -d -- \"$cur\")\n")
		case hostAndPath:
			fmt.Fprint(w, "\t\tcompopt -o filenames 2>/dev/null\n\t\t_ferry_reply < <(compgen -f -- \"$cur\")\n")
		case commandArg:
			fmt.Fprintf(w, "\t\tif ((COMP_CWORD == 2)); then\n\t\t\t_ferry_reply < <(compgen -W '%s' -- \"$cur\")\n\t\tfi\n", strings.Join(commandNamesOf(cmds), " "))
		case shellArg:
			fmt.Fprintf(w, "\t\tif ((COMP_CWORD == 2)); then\n\t\t\t_ferry_reply < <(compgen -W '%s' -- \"$cur\")\n\t\tfi\n", strings.Join(shells, " "))
		}
		fmt.Fprint(w, "\t\t;;\n")
	}
	fmt.Fprint(w, "\tesac\n}\n\ncomplete -F _ferry ferry\n")
}

func writeZsh(w io.Writer, cmds []shellCommand) {
	fmt.Fprint(w, `#compdef ferry
# zsh completion for ferry, made by "ferry completion zsh". Save it as _ferry
# in a directory on $fpath, or load it after compinit with
#     source <(ferry completion zsh)

_ferry() {
	local curcontext=$curcontext state line
	typeset -A opt_args
	local -a commands
	commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "\t\t%s\n", zshQuote(c.name+":"+c.usage))
	}
	fmt.Fprint(w, "\t)\n\t_arguments -C \\\n")
	for _, f := range topFlags {
		fmt.Fprintf(w, "\t\t%s \\\n", zshFlag(f, "(- : *)"))
	}
	fmt.Fprint(w, `		'1: :->command' \
		'*:: :->args'
	case $state in
	command)
		_describe -t commands 'ferry command' commands
		;;
	args)
		case $words[1] in
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "\t\t%s)\n\t\t\t_arguments", strings.Join(c.patterns(), " | "))
		for _, f := range c.flags {
			excl := ""
			if len(f.names()) > 1 {
				excl = "(" + strings.Join(f.names(), " ") + ")"
			}
			if f.long == helpFlag.long {
				excl = "(- : *)" // -h goes alone
			}
			fmt.Fprintf(w, " \\\n\t\t\t\t%s", zshFlag(f, excl))
		}
		switch c.args {
		case dirArg:
			fmt.Fprint(w, " \\\n\t\t\t\t'1:DIR:_files -/'")
		case hostAndPath:
			fmt.Fprint(w, " \\\n\t\t\t\t'1:HOST:_hosts' \\\n\t\t\t\t'*:PATH:_files'")
		case commandArg:
			fmt.Fprintf(w, " \\\n\t\t\t\t'1:COMMAND:(%s)'", strings.Join(commandNamesOf(cmds), " "))
		case shellArg:
			fmt.Fprintf(w, " \\\n\t\t\t\t'1:SHELL:(%s)'", strings.Join(shells, " "))
		}
		fmt.Fprint(w, "\n\t\t\t;;\n")
	}
	fmt.Fprint(w, `		esac
		;;
	esac
}

# Autoloaded from $fpath, this file is _ferry's body; sourced, it registers
# _ferry for ferry.
if [[ $funcstack[1] == _ferry ]]; then
	_ferry "$@"
else
	compdef _ferry ferry
fi
`)
}

// zshFlag is f as an _arguments spec, its names exclusive of excl: -l and
// --listen take their value in the next word, --listen in the same one
// after = too.
func zshFlag(f shellFlag, excl string) string {
	spec := func(name string) string {
		if f.value != "" && strings.HasPrefix(name, "--") {
			name += "="
		}
		return name + "[" + zshBracketed(f.usage) + "]" + zshValue(f)
	}
	names := f.names()
	if len(names) == 1 {
		return zshQuote(excl + spec(names[0]))
	}
	// '(-l --listen)'{'-l[...]:ADDR: ','--listen=[...]:ADDR: '}
	return zshQuote(excl) + "{" + zshQuote(spec(names[0])) + "," + zshQuote(spec(names[1])) + "}"
}

// zshValue is the part of an _arguments spec after the description: the
// value's name, and the values to offer, if any.
func zshValue(f shellFlag) string {
	switch {
	case f.value == "":
		return ""
	case f.choices != nil:
		return ":" + f.value + ":(" + strings.Join(f.choices, " ") + ")"
	}
	return ":" + f.value + ": "
}

// zshBracketed escapes s for the description between [ and ] of an
// _arguments spec.
func zshBracketed(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`).Replace(s)
}

// zshQuote quotes s as one word for zsh (or bash, or any POSIX shell).
func zshQuote(s string) string {
	if s == "" {
		return ""
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeFish(w io.Writer, cmds []shellCommand) {
	fmt.Fprint(w, `# fish completion for ferry, made by "ferry completion fish". Load it with
#     ferry completion fish | source
# or save it as ~/.config/fish/completions/ferry.fish.

# __ferry_command says whether the command being completed is one of its
# arguments; without arguments, whether no command is typed yet.
function __ferry_command
	set -l words (commandline -opc)
	if not set -q argv[1]
		test (count $words) -eq 1
		return
	end
	set -q words[2]; and contains -- $words[2] $argv
end

# Paths only where a command takes them.
complete -c ferry -f
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c ferry -n __ferry_command -a %s -d %s\n", c.name, fishQuote(c.usage))
	}
	for _, f := range topFlags {
		fmt.Fprintf(w, "complete -c ferry -n __ferry_command%s\n", fishFlag(f))
	}
	for _, c := range cmds {
		cond := fishQuote("__ferry_command " + strings.Join(c.patterns(), " "))
		fmt.Fprintf(w, "\n# ferry %s\n", c.name)
		for _, f := range c.flags {
			fmt.Fprintf(w, "complete -c ferry -n %s%s\n", cond, fishFlag(f))
		}
		switch c.args {
		case dirArg:
			fmt.Fprintf(w, "complete -c ferry -n %s -a '(__fish_complete_directories (commandline -ct))'\n", cond)
		case hostAndPath:
			fmt.Fprintf(w, "complete -c ferry -n %s -F\n", cond)
		case commandArg:
			fmt.Fprintf(w, "complete -c ferry -n %s -a %s\n", cond, fishQuote(strings.Join(commandNamesOf(cmds), " ")))
		case shellArg:
			fmt.Fprintf(w, "complete -c ferry -n %s -a %s\n", cond, fishQuote(strings.Join(shells, " ")))
		}
	}
}

// fishFlag is the part of a complete command that describes f.
func fishFlag(f shellFlag) string {
	var b strings.Builder
	if f.short != "" {
		b.WriteString(" -s " + f.short)
	}
	if f.long != "" {
		b.WriteString(" -l " + f.long)
	}
	if f.value != "" {
		b.WriteString(" -x")
	}
	if f.choices != nil {
		b.WriteString(" -a " + fishQuote(strings.Join(f.choices, " ")))
	}
	b.WriteString(" -d " + fishQuote(f.usage))
	return b.String()
}

// fishQuote quotes s as one word for fish, whose single quotes take \' and
// \\ as escapes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}
