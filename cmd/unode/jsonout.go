package main

import (
	"encoding/json"
	"strings"

	"github.com/unode-dev/unode/p2p"
)

// JSON conventions (docs/cli.md, "CIDs in JSON"): a CID in --json output
// is a plain string, "bafy...", and a member or constructor index a
// number beside it (p2p.RefJSON; p2p.NameInfo marshals itself so, which
// covers add, names, publish, published, unpublish and rm). Text output
// keeps the language's #bafy...#1.

// refText puts the leading '#' on a reference printed as text (the
// codebase writes a block known only by its CID without one).
func refText(s string) string { return "#" + strings.TrimPrefix(s, "#") }

type showJSON struct {
	Name string `json:"name"`
	p2p.RefJSON
	Source string `json:"source"`
}

// MarshalJSON writes the definition's reference with a plain CID.
func (r showResult) MarshalJSON() ([]byte, error) {
	ref, err := p2p.ParseRefJSON(r.Ref)
	if err != nil {
		return nil, err
	}
	return json.Marshal(showJSON{r.Name, ref, r.Source})
}

// UnmarshalJSON reads what MarshalJSON wrote (the daemon's answer).
func (r *showResult) UnmarshalJSON(data []byte) error {
	var in showJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*r = showResult{Name: in.Name, Ref: in.Text(), Source: in.Source}
	return nil
}
