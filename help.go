package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// The help texts are written by hand, as age's are, rather than made by the
// flag package: each says what a flag is for, not only its type. Tests keep
// them in step with the flags the commands register, defaults included.

// usageText is the overview: "ferry help", "ferry --help", and on stderr
// when ferry is run without a command.
const usageText = `Usage:
    ferry recv [flags] [DIR | -]                receive into DIR (default .), or - for stdout
    ferry send [flags] HOST[:PORT] PATH... | -  send files and directories, or - for stdin
    ferry help [COMMAND]                        this text, or a command's, with examples
    ferry completion bash|zsh|fish              a shell completion script
    ferry version                               the version (also --version, -V)

recv makes DIR if it is missing. A directory arrives under its own name with
everything in it; symbolic links inside it are skipped with a warning.

recv flags:
    -l, --listen ADDR      address to listen on (default :7575)
    -k, --keep-open        serve senders until interrupted, each concurrently
        --overwrite        replace existing files (default: refuse)
        --keep-perms       the sender's mode bits as they are (default: less the umask)
        --partial-age DURATION
                           remove partial data of failed transfers older than
                           this at start, 7 days (default 168h0m0s)

send flags:
    -z, --compress MODE    auto, zstd, s2 or none (default auto)
        --name NAME        file name for a stream from stdin (default stdin)
    -P, --parallel N       stripe the transfer over N connections, 1 to 16, for
                           a long path one cannot fill (default 1)
        --wait DURATION    retry a refused connection until recv is up, at
                           most this long (default 0s)

flags for both:
        --code CODE        the receiver's code (or env FERRY_CODE); recv makes one
                           up unless given, and prints it in the command to run
        --plain            no code, no encryption: for trusted networks only
        --raw              no framing at all, as netcat: recv --raw [FILE | -],
                           send --raw HOST FILE | -
        --no-resume        start every file over: recv keeps no partial data of a
                           failed transfer, send resends what the receiver holds
    -q, --quiet            print errors and warnings only
    -v, --verbose          list each file as it completes
        --json             print JSON lines on stderr instead of messages
        --timeout DURATION give up on a silent peer after this long (default 30s)

Run 'ferry help COMMAND' or 'ferry COMMAND --help' for a command's flags and
examples.

Exit status: 0 every byte arrived, verified and synced; 1 the transfer failed;
2 usage error; 130 interrupted.
`

const recvHelp = `Usage:
    ferry recv [flags] [DIR]
    ferry recv [flags] -
    ferry recv --raw [flags] [FILE | -]

recv listens for a sender and writes what it sends into DIR (default .),
which it makes if it is missing, or with -, to stdout. Unless given a code,
it makes one up and prints the command to run on the other machine. A
directory arrives under its own name with everything in it; symbolic links
inside it are skipped with a warning. A file gets its final name only once
it is verified and synced. recv exits after one transfer, unless -k.

A file whose transfer fails keeps the data that arrived, hidden in
DIR/.ferry-partial, and the same file sent again continues from there. A
file already in DIR with the same content is skipped; one that differs is
refused without --overwrite, and the other files still arrive.

Flags:
    -l, --listen ADDR      address to listen on (default :7575): PORT, :PORT,
                           HOST, HOST:PORT, [IPv6] or [IPv6]:PORT
    -k, --keep-open        serve senders until interrupted, each concurrently
        --overwrite        replace existing files (default: refuse them)
        --keep-perms       the sender's mode bits as they are (default: less
                           the umask); not with --raw or -
        --no-resume        keep no partial data of a failed transfer, and
                           offer none: every file starts over
        --partial-age DURATION
                           remove partial data of failed transfers older than
                           this at start, 7 days (default 168h0m0s)
        --code CODE        the code senders must give (or env FERRY_CODE);
                           without one, recv makes one up and prints it
        --plain            no code, no encryption: for trusted networks only
        --raw              no framing at all, as netcat: one connection's
                           bytes into FILE, or to stdout (-, the default)
    -q, --quiet            print errors and warnings only
    -v, --verbose          list each file as it completes
        --json             print JSON lines on stderr instead of messages
        --timeout DURATION give up on a silent sender after this long
                           (default 30s)
    -h, --help             print this help

Examples:
    # Receive into ~/inbox; recv prints the command for the other machine.
    ferry recv ~/inbox

    # Unpack a tar stream as it arrives (sent by tar c DIR | ferry send HOST -).
    ferry recv - | tar x

    # A service on port 7000 with a fixed code, taking senders until stopped.
    FERRY_CODE=correct-horse-battery ferry recv -k -l :7000 /srv/inbox

    # On a trusted network: no code, no encryption.
    ferry recv --plain /tmp/inbox

    # From netcat, with no framing (the sender runs nc -N HOST 7575 < disk.img).
    ferry recv --raw disk.img

Exit status: 0 every byte arrived, verified and synced; 1 the transfer failed;
2 usage error; 130 interrupted.
`

const sendHelp = `Usage:
    ferry send [flags] HOST[:PORT] PATH...
    ferry send [flags] HOST[:PORT] -
    ferry send --raw [flags] HOST[:PORT] FILE | -

send connects to a ferry recv on HOST, port 7575 unless given, and sends the
files and directories named, or with -, what it reads from stdin. A
directory goes with everything under it and arrives under its own name, as
with scp -r; symbolic links inside it are skipped with a warning. send exits
0 only once the receiver has every file verified and synced (with --raw,
once the receiver has closed the connection). Run again after a failure, it
skips what arrived and continues a file that arrived in part.

HOST is a name, an IPv4 address or an IPv6 address (::1 or [::1]). Flags may
stand anywhere: before HOST, or after the paths.

Flags:
        --code CODE        the receiver's code (or env FERRY_CODE)
    -z, --compress MODE    auto, zstd, s2 or none (default auto)
        --name NAME        the file name for a stream from stdin (default stdin)
        --no-resume        send every file whole, though the receiver holds
                           part of it from a transfer that failed
    -P, --parallel N       stripe the transfer over N TCP connections, 1 to 16,
                           for a long or window-limited path that one
                           connection cannot fill; a receiver that does not
                           take them (an older ferry) gets one (default 1)
        --plain            no code, no encryption: for a ferry recv --plain
        --raw              no framing at all, as netcat: for ferry recv --raw
                           or nc -l; sends one FILE, or stdin (-)
        --wait DURATION    if the connection is refused or unreachable, try
                           again until ferry recv is up, for at most this
                           long; 0s fails at once (default 0s)
    -q, --quiet            print errors and warnings only
    -v, --verbose          list each file as it completes
        --json             print JSON lines on stderr instead of messages
        --timeout DURATION give up on a silent receiver after this long, and
                           on connecting to a host that does not answer
                           (default 30s)
    -h, --help             print this help

Examples:
    # A file and a directory, with the code ferry recv printed.
    ferry send --code 48210-93755-62184 192.168.1.20 notes.pdf photos/

    # The code from the environment; a stream from stdin, which arrives as
    # project.tar (or is unpacked by ferry recv - | tar x).
    export FERRY_CODE=48210-93755-62184
    tar c project | ferry send --name project.tar 192.168.1.20 -

    # To a service on port 7000 that has a fixed code.
    FERRY_CODE=correct-horse-battery ferry send pi.local:7000 video.mkv

    # On a trusted network, no code; text over a slow link, so zstd.
    ferry send --plain -z zstd 10.0.0.5 logs/

    # From a script that starts ferry recv on the Pi at the same time.
    ferry send --wait 1m pi.local video.mkv

    # To netcat, with no framing (the other side runs nc -l 7575 > disk.img).
    ferry send --raw 192.168.1.20 disk.img

Exit status: 0 every byte arrived, verified and synced; 1 the transfer failed;
2 usage error; 130 interrupted.
`

const versionHelp = `Usage:
    ferry version
    ferry --version
    ferry -V

version prints which ferry this is, on one line: its version, the commit it
was built from, the system it was built for and the Go release that built it.

Flags:
    -h, --help             print this help

Examples:
    ferry version
    ferry -V

    # The other machine's, to compare.
    ssh pi.local ferry version
`

const completionHelp = `Usage:
    ferry completion bash|zsh|fish

completion prints a script that makes the shell complete ferry's commands,
their flags, the modes of -z, directories for recv and paths for send.

Flags:
    -h, --help             print this help

Examples:
    # bash: in this shell; or in every new one, through bash-completion.
    source <(ferry completion bash)
    mkdir -p ~/.local/share/bash-completion/completions
    ferry completion bash > ~/.local/share/bash-completion/completions/ferry

    # zsh: in this shell, after compinit; or in every new one, from a
    # directory on $fpath (fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc).
    source <(ferry completion zsh)
    mkdir -p ~/.zfunc
    ferry completion zsh > ~/.zfunc/_ferry

    # fish: in this shell; or in every new one.
    ferry completion fish | source
    ferry completion fish > ~/.config/fish/completions/ferry.fish
`

// commandNames maps each spelling of a command that run dispatches on to
// the command's name.
var commandNames = map[string]string{
	"recv":       "recv",
	"receive":    "recv",
	"send":       "send",
	"completion": "completion",
	"version":    "version",
	"--version":  "version",
	"-version":   "version",
	"-V":         "version",
}

// commandHelp is each command's help, by its name.
var commandHelp = map[string]string{
	"recv":       recvHelp,
	"send":       sendHelp,
	"completion": completionHelp,
	"version":    versionHelp,
}

// helpText is the help of the command typed as name, or the overview.
func helpText(name string) string {
	if text, ok := commandHelp[commandNames[name]]; ok {
		return text
	}
	return usageText
}

// helpCommand is what prints the help of the command typed as name, for
// the hint after a usage error.
func helpCommand(name string) string {
	if cmd, ok := commandNames[name]; ok {
		return "ferry help " + cmd
	}
	return "ferry help"
}

// isHelpFlag says whether arg asks for help, as the flag package takes it.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "--help", "-help":
		return true
	}
	return false
}

// helpCmd is "ferry help [COMMAND]".
func helpCmd(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0, len(args) == 1 && (args[0] == "help" || isHelpFlag(args[0])):
		fmt.Fprint(stdout, usageText)
	case len(args) > 1:
		return usagef("help takes one command, not %s", strings.Join(args, " "))
	case commandNames[args[0]] == "":
		return usagef("help: unknown command %q (want recv, send, completion or version)", args[0])
	default:
		fmt.Fprint(stdout, helpText(args[0]))
	}
	return nil
}

// versionCmd is "ferry version", typed as name: version, --version or -V.
func versionCmd(name string, args []string, stdout io.Writer) error {
	if len(args) == 1 && isHelpFlag(args[0]) {
		return flag.ErrHelp
	}
	if len(args) > 0 {
		return usagef("%s takes no arguments, not %s", name, strings.Join(args, " "))
	}
	fmt.Fprintln(stdout, versionString())
	return nil
}
