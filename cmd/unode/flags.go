package main

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Flag values for budgets. pflag's own Int64 and Duration values put
// strconv's and time's messages in the error ("strconv.ParseInt: parsing
// "abc": invalid syntax"); these say what is wanted. Sizes take the one
// syntax every budget flag of every command takes (unode grant --memory
// 64MiB, unode eval --memory 64MiB): a number of bytes, optionally with
// KiB, MiB or GiB.

// countValue is a non-negative count (fuel).
type countValue int64

func (v *countValue) Set(s string) error {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || n < 0 {
		if errors.Is(err, strconv.ErrRange) {
			return errors.New("too large")
		}
		return errors.New("want a non-negative whole number, e.g. 1000000")
	}
	*v = countValue(n)
	return nil
}

func (v *countValue) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *countValue) Type() string   { return "N" }

// sizeValue is a number of bytes: 4096, 512KiB, 64MiB, 1GiB.
type sizeValue int64

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v = sizeValue(n)
	return nil
}

func parseSize(s string) (int64, error) {
	shift := uint(0)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = rest, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a non-negative number of bytes, optionally with KiB, MiB or GiB, e.g. 64MiB")
	}
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	return n << shift, nil
}

func formatSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (v *sizeValue) String() string { return formatSize(int64(*v)) }
func (v *sizeValue) Type() string   { return "SIZE" }

// durationValue is a non-negative duration: 10s, 1m30s.
type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return errors.New("want a duration such as 10s, 500ms or 1m30s")
	}
	*v = durationValue(d)
	return nil
}

func (v *durationValue) d() time.Duration { return time.Duration(*v) }
func (v *durationValue) String() string {
	if *v == 0 {
		return "0" // pflag leaves a "0" default out of the help
	}
	return time.Duration(*v).String()
}
func (v *durationValue) Type() string { return "DURATION" }

// evalArgs wraps the body of a command that parses its own flags
// (DisableFlagParsing) so that an argument starting with "-" can be an
// expression: '-7 / 2', '-(1 + 2)', '- 3'. Such an argument is moved
// after a "--", so pflag takes it as positional; everything else parses
// as usual, --help included.
func evalArgs(body func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		// cmd.ParseFlags does nothing with DisableFlagParsing set.
		fs := cmd.Flags()
		fs.AddFlagSet(cmd.InheritedFlags()) // --json
		if err := fs.Parse(exprArgs(args)); err != nil {
			return err
		}
		if help, _ := cmd.Flags().GetBool("help"); help {
			return cmd.Help()
		}
		return body(cmd, cmd.Flags().Args())
	}
}

// exprArgs moves the arguments that are expressions beginning with "-"
// after a "--" (keeping their order, and what already followed "--").
func exprArgs(args []string) []string {
	var flags, rest []string
	for i, a := range args {
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if negativeExpr(a) {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
	}
	return append(append(flags, "--"), rest...)
}

// negativeExpr reports whether an argument starting with "-" is an
// expression rather than flags: flags are -x or --name (letters after the
// dashes) and never hold white space.
func negativeExpr(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	if strings.ContainsAny(a, " \t\n") {
		return true
	}
	c := a[1]
	return c != '-' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}
