package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/capabilities"
)

// sandboxFlags are the flags that describe a sandbox, in the text syntax
// of capabilities.ParseSandbox: `unode grant` and `unode policy set` take
// the same ones.
type sandboxFlags struct {
	allow, deny, code, targets   []string
	fuel, memory, timeout, limit string
}

const (
	helpAllow  = "allow a builtin group (pure, remote, channel, cluster), data keys (data.read:PREFIX, data.write:PREFIX, =KEY for one key) or, in a token, membership of a cluster of this node (cluster.member:NAME); repeatable"
	helpDeny   = "deny a builtin (Int.sub) in every group allowed, or in one (pure:Int.sub); repeatable"
	helpCode   = "allow foreign code to call only these definitions (CID; repeatable; \"none\": none); default any"
	helpTarget = "a node that at/send may target besides the caller and this node (peer ID; repeatable; \"any\": all)"
)

func (f *sandboxFlags) register(cmd *cobra.Command, budgetDefault string) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.allow, "allow", nil, helpAllow)
	fl.StringArrayVar(&f.deny, "deny", nil, helpDeny)
	fl.StringArrayVar(&f.code, "allow-code", nil, helpCode)
	fl.StringArrayVar(&f.targets, "allow-target", nil, helpTarget)
	fl.StringVar(&f.fuel, "fuel", "", "fuel (evaluation steps) per evaluation; "+budgetDefault)
	fl.StringVar(&f.memory, "memory", "", "bytes allocated per evaluation, e.g. 64MiB; "+budgetDefault)
	fl.StringVar(&f.timeout, "time", "", "wall time per evaluation, e.g. 10s; "+budgetDefault)
	fl.StringVar(&f.limit, "result", "", "bytes of the encoded result, e.g. 1MiB; "+budgetDefault)
}

// sandbox builds the sandbox the flags describe; caps are further
// --allow values given as arguments. With defaults, budgets not given
// take the default sandbox's (capabilities.DefaultBudget); otherwise they
// are zero.
func (f *sandboxFlags) sandbox(caps []string, defaults bool) (capabilities.Sandbox, error) {
	var args []string
	for _, v := range append(append([]string(nil), caps...), f.allow...) {
		args = append(args, "--allow", v)
	}
	for _, v := range f.deny {
		args = append(args, "--deny", v)
	}
	for _, v := range f.code {
		args = append(args, "--allow-code", v)
	}
	for _, v := range f.targets {
		args = append(args, "--allow-target", v)
	}
	budget := []struct {
		flag, val string
	}{{"--fuel", f.fuel}, {"--memory", f.memory}, {"--time", f.timeout}, {"--result", f.limit}}
	for _, b := range budget {
		if b.val != "" {
			args = append(args, b.flag, b.val)
		}
	}
	sb, err := capabilities.ParseSandboxArgs(args)
	if err != nil {
		return sb, err
	}
	if defaults {
		d := capabilities.DefaultBudget()
		if f.fuel == "" {
			sb.Budget.Fuel = d.Fuel
		}
		if f.memory == "" {
			sb.Budget.Memory = d.Memory
		}
		if f.timeout == "" {
			sb.Budget.Time = d.Time
		}
		if f.limit == "" {
			sb.Budget.Result = d.Result
		}
	}
	return sb.Normalize(), nil
}

func policyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show what foreign evaluations from each peer may do here, before any token",
		Long: "Show the policy: the default sandbox (for peers the policy does not name), the\n" +
			"named sandboxes, and which peer uses which. A sandbox is printed in the flag\n" +
			"syntax of `unode policy set` and `unode grant`. --json prints the \"policy\"\n" +
			"section of config.json. Changes are saved to config.json and, while the daemon\n" +
			"runs, apply to its next request. Tokens (`unode grant`) add to a peer's sandbox.",
		Example: "  unode policy\n" +
			"  unode policy set-default pure --fuel 1000000\n" +
			"  unode policy set lab pure remote --allow-target any --fuel 1000000000 --time 5m\n" +
			"  unode policy assign 12D3KooW... lab",
		Args: cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, policyOp, &policyRequest{})
		}),
	}
	cmd.AddCommand(policySetDefaultCmd(e), policySetCmd(e), policyAssignCmd(e), policyUnassignCmd(e), policyRmCmd(e))
	return cmd
}

const policyBudgetDefault = "default: the built-in default sandbox's"

func policySetDefaultCmd(e *env) *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "set-default [CAP...]",
		Short: "Replace the sandbox of peers the policy does not name",
		Long: "Replace the default sandbox, the one peers not assigned a named sandbox get.\n" +
			"CAP arguments are what --allow takes (pure, remote, channel, cluster,\n" +
			"data.read:PREFIX, data.write:PREFIX). Budgets not given take the built-in\n" +
			"defaults (10000000 steps, 64MiB, 10s, 1MiB result); a budget of 0 lets no code run.",
		Example: "  unode policy set-default pure --deny Int.sub\n  unode policy set-default --fuel 0    # refuse all foreign code",
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			sb, err := f.sandbox(args, true)
			if err != nil {
				return nil, err
			}
			return invoke(e, policySetOp, &policySetRequest{Name: capabilities.DefaultSandboxName, Sandbox: sb})
		}),
	}
	f.register(cmd, policyBudgetDefault)
	return cmd
}

func policySetCmd(e *env) *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "set NAME [CAP...]",
		Short: "Define or replace a named sandbox",
		Long: "Define or replace the sandbox NAME (letters, digits, _ . -), for the peers\n" +
			"`unode policy assign` maps to it. CAP arguments are what --allow takes.\n" +
			"Budgets not given take the built-in defaults (10000000 steps, 64MiB, 10s, 1MiB).",
		Example: "  unode policy set friends pure remote --allow-target any\n" +
			"  unode policy set insurer pure data.read:health/ --fuel 50000000",
		Args: cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			if args[0] == capabilities.DefaultSandboxName {
				return nil, fmt.Errorf("use `unode policy set-default` for the default sandbox")
			}
			sb, err := f.sandbox(args[1:], true)
			if err != nil {
				return nil, err
			}
			return invoke(e, policySetOp, &policySetRequest{Name: args[0], Sandbox: sb})
		}),
	}
	f.register(cmd, policyBudgetDefault)
	return cmd
}

func policyAssignCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "assign PEER NAME",
		Short:   "Make a peer use a named sandbox instead of the default one",
		Example: "  unode policy assign 12D3KooWECAsBkMKfPyEqfreu67GYt4uB6HTHsxbqozdoEZ2Dq7A lab",
		Args:    cobra.ExactArgs(2),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, policyAssignOp, &policyAssignRequest{Peer: args[0], Sandbox: args[1]})
		}),
	}
}

func policyUnassignCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "unassign PEER",
		Short: "Forget a peer's sandbox: it gets the default sandbox again",
		Args:  cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, policyAssignOp, &policyAssignRequest{Peer: args[0]})
		}),
	}
}

func policyRmCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a named sandbox (no peer may still use it)",
		Args:  cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, policyRmOp, &policyRmRequest{Name: args[0]})
		}),
	}
}

// daysPrefix matches the days of an expiry such as "7d" or "1d12h", which
// Go durations do not have.
var daysPrefix = regexp.MustCompile(`^([0-9]+)d`)

// parseExpiry reads --expires: a duration from now (Go syntax, plus d for
// days: 1h, 30m, 7d, 1d12h) or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	rest := s
	var d time.Duration
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		days, err := strconv.Atoi(m[1])
		if err != nil || days > 100*366 {
			return time.Time{}, fmt.Errorf("--expires %s: too many days", s)
		}
		d = time.Duration(days) * 24 * time.Hour
		rest = s[len(m[0]):]
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("--expires %s: want a duration such as 1h, 30m or 7d, or an RFC 3339 time", s)
		}
		d += more
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("--expires %s: the duration must be positive", s)
	}
	return now.Add(d), nil
}

func grantCmd(e *env) *cobra.Command {
	var f sandboxFlags
	var to, expires, note string
	cmd := &cobra.Command{
		Use:   "grant --to PEER --allow CAP... --expires DURATION",
		Short: "Issue a signed, expiring capability token to a peer and print it",
		Long: "Issue a token, signed with this node's key, that lets PEER do more in the\n" +
			"evaluations it asks of this node: the sandbox the flags describe is joined with\n" +
			"what the policy gives PEER, for calls that present the token (`unode eval --at\n" +
			"THIS-NODE --token T`), until it expires or is revoked.\n\n" +
			"Prints the token, one copy-pasteable string (--json: id, token, audience,\n" +
			"expires, sandbox); the ID to revoke it with goes to stderr. Budgets not given\n" +
			"are zero: the policy's budgets for PEER apply. Without --allow-code the token\n" +
			"allows any definition. The grant is recorded: `unode grants` lists it.\n\n" +
			"--allow cluster.member:NAME makes the token a membership of this node's cluster\n" +
			"NAME: PEER joins with `unode daemon --cluster NAME --membership TOKEN`, and others\n" +
			"find it with `provision (Cluster.owned <this node> \"NAME\")`. A token that grants\n" +
			"only memberships allows no definition on calls (as --allow-code none).",
		Example: "  unode grant --to 12D3KooW... --allow data.read:health/ --expires 1h --note insurer\n" +
			"  unode grant --to 12D3KooW... --allow cluster.member:stats --expires 7d\n" +
			"  T=$(unode grant --to 12D3KooW... --allow pure --deny Int.sub --fuel 1000000 --expires 7d)",
		Args: cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			if to == "" {
				return nil, fmt.Errorf("--to PEER is required: the peer the token is for")
			}
			if expires == "" {
				return nil, fmt.Errorf("--expires DURATION is required: every token expires (e.g. --expires 1h)")
			}
			exp, err := parseExpiry(expires, time.Now())
			if err != nil {
				return nil, err
			}
			sb, err := f.sandbox(nil, false)
			if err != nil {
				return nil, err
			}
			if membershipOnly(sb) && len(f.code) == 0 {
				// A membership token lets its holder join a cluster;
				// presented on a call, it must not widen the code the
				// policy lets it call (the default, any definition).
				sb.AnyCode = false
			}
			res, err := invoke(e, grantOp, &grantRequest{To: to, Sandbox: sb, Expires: exp, Note: note})
			if err != nil {
				return nil, err
			}
			if !e.json {
				fmt.Fprintf(e.stderr, "token %s for %s until %s (revoke with `unode revoke %s`)\n",
					res.ID, res.Audience, res.Expires.UTC().Format(time.RFC3339), res.ID)
			}
			return res, nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "the peer the token is for (peer ID or /p2p/ multiaddr); only it can use the token")
	fl.StringVar(&expires, "expires", "", "how long the token is valid: a duration (1h, 30m, 7d) or an RFC 3339 time")
	fl.StringVar(&note, "note", "", "a note kept with the grant (who it is for, why); not part of the token")
	f.register(cmd, "default 0 (the policy's applies)")
	return cmd
}

func grantsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "grants",
		Short: "List the tokens this node granted: ID, audience, status, expiry and sandbox",
		Long: "List the tokens this node granted, newest first: ID, audience, status (active,\n" +
			"expired or revoked), expiry, sandbox and note. --json adds the tokens themselves.",
		Args: cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, grantsOp, &grantsRequest{})
		}),
	}
}

func revokeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID|TOKEN",
		Short: "Revoke a token (and every token delegated from it), at once and for good",
		Long: "Revoke a token given its ID (as `unode grants` prints it; a unique prefix of 6 or\n" +
			"more characters will do) or the token itself. The revocation is saved in the\n" +
			"repo's datastore, which the node checks on every request: while the daemon runs,\n" +
			"it refuses the token from the next call on. Tokens delegated from it are revoked\n" +
			"too. Revoking twice is not an error.",
		Example: "  unode revoke 3zq5lqsmwnjd2ck2ro7nhwxqya\n  unode revoke 3zq5lq",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, revokeOp, &revokeRequest{What: args[0]})
		}),
	}
}

func logCmd(e *env) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show the audit log of foreign evaluations, newest first",
		Long: "Show the evaluations other peers asked of this node, newest first: time, peer,\n" +
			"outcome (ok, denied, budget, error), fuel and memory used, the IDs of the tokens\n" +
			"that verified, the CID of the code run, and what went wrong.",
		Args: cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, logOp, &logRequest{Limit: limit})
		}),
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 100, "show at most this many entries; 0 = all")
	return cmd
}

// membershipOnly reports whether sb grants cluster memberships and
// nothing else an evaluation could use.
func membershipOnly(sb capabilities.Sandbox) bool {
	return len(sb.Members) > 0 && len(sb.Groups) == 0 && len(sb.Read) == 0 && len(sb.Write) == 0 && !sb.AnyTarget && len(sb.Targets) == 0
}

// readTokenFile reads tokens from a file: separated by white space or
// newlines; lines starting with # are comments.
func readTokenFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		out = append(out, strings.Fields(line)...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--token-file %s: no token in it", path)
	}
	return out, nil
}
