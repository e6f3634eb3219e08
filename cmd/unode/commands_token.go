package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/capabilities"
)

// `unode token inspect|verify`: read a token someone handed you (or one
// this node granted) without guessing from its base32.

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Decode a capability token, or check whether this node would accept it",
		Long: "Read capability tokens: `token inspect` decodes one (issuer, audience, what it\n" +
			"grants, validity window, delegation chain, ID) without checking it, and `token\n" +
			"verify` says whether this node would accept it from a peer, and if not why.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(tokenInspectCmd(e), tokenVerifyCmd(e))
	return cmd
}

// tokenArg reads the TOKEN argument: the token's text, or "-" for
// standard input (a token file's comments and blank lines skipped).
func tokenArg(e *env, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	data, err := io.ReadAll(io.LimitReader(e.stdin, 2*int64(capabilities.MaxTokenText)))
	if err != nil {
		return "", fmt.Errorf("reading the token from standard input: %w", err)
	}
	var fields []string
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			fields = append(fields, strings.Fields(line)...)
		}
	}
	if len(fields) != 1 {
		return "", fmt.Errorf("standard input holds %d tokens, want exactly 1", len(fields))
	}
	return fields[0], nil
}

func tokenInspectCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect TOKEN|-",
		Short: "Print what a token says: issuer, audience, grants, validity window, chain, ID",
		Long: "Decode a token (its text, or - to read it from standard input) and print what it\n" +
			"says: its ID, issuer, audience, what it grants (in the flag syntax of `unode\n" +
			"grant`), its validity window, and for a delegated token every link of the chain\n" +
			"down to its root. Nothing is verified — a forged token decodes as well as a real\n" +
			"one; use `unode token verify` for that. Needs no repo and no daemon.\n\n" +
			"--json: id, issuer, audience, sandbox, notBefore (omitted: valid from issue),\n" +
			"expires, root (the issuer of the chain's first token, the only node that accepts\n" +
			"it), depth, window (\"active\", \"not yet valid\" or \"expired\" by the time\n" +
			"check alone), chain (every token, this one first, the root's last, with the same\n" +
			"fields) and bytes.",
		Example: "  unode token inspect unode1u4aq...\n  unode grant --to 12D3KooW... --allow pure --expires 1h | unode token inspect -",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			text, err := tokenArg(e, args[0])
			if err != nil {
				return nil, err
			}
			tok, err := capabilities.ParseToken(text)
			if err != nil {
				return nil, err
			}
			return inspectToken(tok, time.Now()), nil
		}),
	}
}

func tokenVerifyCmd(e *env) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "verify TOKEN|- [--from PEER]",
		Short: "Say whether this node would accept a token from a peer, and if not why",
		Long: "Check a token as this node checks the tokens an evaluation request presents:\n" +
			"the chain is rooted at this node, its audience is the presenting peer (--from;\n" +
			"default the token's audience), every signature holds, no delegation widens its\n" +
			"parent, no link is revoked, and now is within every link's window (exactly for\n" +
			"links this node issued, give or take 2 minutes for the others). Revocations are\n" +
			"the node's: the check runs in the daemon when one runs, else on the repo.\n\n" +
			"Prints \"accepted\" with what the token grants (on top of the policy's sandbox\n" +
			"for the peer) and until when, or \"refused\" and the first check that failed;\n" +
			"exits 1 when refused. --json: id, node, from, accepted, reason (malformed,\n" +
			"chain-too-deep, not-issued-here, wrong-audience, bad-signature, broken-chain,\n" +
			"widened, revoked, not-yet-valid, expired), link (the token of the chain that\n" +
			"failed), detail, sandbox and until (when accepted), checked.",
		Example: "  unode token verify unode1u4aq...\n  unode token verify --from 12D3KooW... unode1u4aq...",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			text, err := tokenArg(e, args[0])
			if err != nil {
				return nil, err
			}
			return invoke(e, tokenVerifyOp, &tokenVerifyRequest{Token: text, From: from})
		}),
	}
	cmd.Flags().StringVar(&from, "from", "", "the peer presenting the token (peer ID or /p2p/ multiaddr); default its audience")
	return cmd
}
