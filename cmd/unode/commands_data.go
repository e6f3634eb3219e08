package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func dataCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Store, read, list and remove this node's data (what Data.get and friends see)",
		Long: "Node data is values under '/'-separated text keys (health/2026-01-01), kept in the\n" +
			"repo's datastore. Programs read and write it with Data.get, Data.put, Data.list\n" +
			"and Data.delete; other peers only through the data.read/data.write patterns of\n" +
			"their sandbox (`unode policy`, `unode grant`).",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(dataPutCmd(e), dataGetCmd(e), dataLsCmd(e), dataRmCmd(e))
	return cmd
}

// readArg returns a command-line value, or standard input for "-".
func (e *env) readArg(arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	if e.stdin == nil {
		return "", fmt.Errorf("no standard input to read the value from")
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxRequestBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxRequestBytes {
		return "", fmt.Errorf("the value on standard input is larger than %d bytes", maxRequestBytes)
	}
	return string(b), nil
}

func dataPutCmd(e *env) *cobra.Command {
	var fromJSON bool
	var file string
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Store a value under a key, replacing what was there",
		Long: "Store VALUE under KEY. VALUE is source syntax, evaluated as a pure expression\n" +
			"(72, 1.5, \"text\", [1, 2], (1, \"a\"), Some 3, Map.fromList [(\"a\", 1)], or any\n" +
			"expression over the codebase's names without effects). With --from-json VALUE is\n" +
			"a JSON document instead: integers become Int, other numbers Float, strings Text,\n" +
			"booleans Bool, null (), arrays List and objects Map from Text keys. With --file\n" +
			"the file's bytes are stored as one Bytes value and there is no VALUE. A VALUE of\n" +
			"- is read from standard input.",
		Example: "  unode data put health/2026-01-01/pulse 72\n" +
			"  unode data put health/weights '[71.5, 71.2, 70.9]'\n" +
			"  unode data put --from-json profile '{\"name\": \"Ada\", \"born\": 1815}'\n" +
			"  unode data put --file scan.png health/scan",
		Args: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				if len(args) != 1 {
					return fmt.Errorf("with --file, give only the KEY (got %d arguments)", len(args))
				}
				if fromJSON {
					return fmt.Errorf("--file and --from-json do not go together")
				}
				return nil
			}
			if len(args) != 2 {
				return fmt.Errorf("want KEY VALUE (or KEY --file PATH), got %d arguments", len(args))
			}
			return nil
		},
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			req := &dataPutRequest{Key: args[0]}
			switch {
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return nil, err
				}
				req.Format, req.Bytes = formatBytes, b
				if req.Bytes == nil {
					req.Bytes = []byte{}
				}
			case fromJSON:
				v, err := e.readArg(args[1])
				if err != nil {
					return nil, err
				}
				if _, err := valueFromJSON([]byte(v)); err != nil {
					return nil, err // say so before sending it anywhere
				}
				req.Format, req.JSON = formatJSON, []byte(v)
			default:
				v, err := e.readArg(args[1])
				if err != nil {
					return nil, err
				}
				req.Format, req.Source = formatSource, v
			}
			res, err := invoke(e, dataPutOp, req)
			if err != nil {
				return nil, err
			}
			return dataText{dataValueResult: res, put: true}, nil
		}),
	}
	cmd.Flags().BoolVar(&fromJSON, "from-json", false, "VALUE is a JSON document, not source syntax")
	cmd.Flags().StringVar(&file, "file", "", "store the bytes of this file as a Bytes value (no VALUE argument)")
	return cmd
}

type wroteFile struct {
	Key   string `json:"key"`
	Path  string `json:"path"`
	Bytes int    `json:"bytes"`
}

func (r *wroteFile) Text() string {
	return fmt.Sprintf("wrote %d bytes of %s to %s", r.Bytes, r.Key, r.Path)
}

func dataGetCmd(e *env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value stored under a key, in source syntax",
		Long: "Print the value under KEY in source syntax; --json prints {key, value, text}\n" +
			"with the value as `unode eval --json` gives it. A key that holds nothing is an\n" +
			"error. With --file PATH a Bytes value is written to PATH as raw bytes.",
		Example: "  unode data get health/2026-01-01/pulse\n  unode data get --file out.png health/scan",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			res, err := invoke(e, dataGetOp, &dataGetRequest{Key: args[0], Raw: file != ""})
			if err != nil {
				return nil, err
			}
			if file != "" {
				if err := os.WriteFile(file, res.Bytes, 0o644); err != nil {
					return nil, err
				}
				return &wroteFile{Key: res.Key, Path: file, Bytes: len(res.Bytes)}, nil
			}
			return dataText{dataValueResult: res}, nil
		}),
	}
	cmd.Flags().StringVar(&file, "file", "", "write a Bytes value's raw bytes to this file instead of printing it")
	return cmd
}

func dataLsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "ls [PREFIX]",
		Short:   "List the data keys, sorted, optionally only those starting with PREFIX",
		Example: "  unode data ls health/",
		Args:    cobra.MaximumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			req := &dataLsRequest{}
			if len(args) > 0 {
				req.Prefix = args[0]
			}
			return invoke(e, dataLsOp, req)
		}),
	}
}

func dataRmCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "rm KEY",
		Short: "Remove the value stored under a key",
		Args:  cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, dataRmOp, &dataRmRequest{Key: args[0]})
		}),
	}
}

func publishCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "publish NAME|#CID...",
		Short: "Publish definitions: other nodes may then fetch them and call them",
		Long: "Publish definitions already in the codebase. Definitions are private unless\n" +
			"published: this node serves other nodes the blocks of published definitions\n" +
			"(and of what calling them needs), and sends private code only inside calls it\n" +
			"makes itself. What a definition sends to here! to run is not published with\n" +
			"it: that stays on this node. Prints the names published.",
		Example: "  unode publish rateQuote'",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, publishOp, &publishRequest{What: args})
		}),
	}
}

func unpublishCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "unpublish NAME|#CID...",
		Short: "Stop publishing definitions: other nodes can no longer fetch them from here",
		Long: "Withdraw definitions published by name or CID (`unode publish`, `add --publish`).\n" +
			"Their blocks, and the blocks of their closures that no other published definition\n" +
			"needs, are no longer served to other nodes, and the node stops announcing them in\n" +
			"the DHT (records already announced expire within 48 h; a fetch meanwhile finds\n" +
			"nothing here). The definitions stay in the codebase. Prints the names unpublished.",
		Example: "  unode unpublish rateQuote\n  unode unpublish '#bafyreib...'",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, unpublishOp, &unpublishRequest{What: args})
		}),
	}
}

func publishedCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "published",
		Short: "List the published definitions with their CIDs",
		Args:  cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, publishedOp, &publishedRequest{})
		}),
	}
}
