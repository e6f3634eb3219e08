package p2p

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
)

// The JSON form of a namespace entry (docs/cli.md, "CIDs in JSON"): the
// CID is a plain string, "bafy...", never the language's "#bafy..."
// reference syntax, so that a program can hand it to `unode block get`
// or any IPLD tool as it is; a member of a cycle of mutually recursive
// definitions and a constructor of a type are numbers beside it:
//
//	{"name": "isOdd", "kind": "term", "cid": "bafy...", "member": 1}
//	{"name": "Circle", "kind": "ctor", "cid": "bafy...", "ctor": 0}
//
// "member" is omitted when 0; "ctor" is present exactly for a
// constructor. NameInfo.Ref keeps the language's syntax for text output.

// RefJSON is a reference to a definition, or to a constructor, as JSON
// output gives it.
type RefJSON struct {
	CID    string `json:"cid"`
	Member int    `json:"member,omitempty"`
	Ctor   *int   `json:"ctor,omitempty"`
}

// ParseRefJSON splits the text of a reference as the codebase prints it
// — "#cid", "#cid#member", "#cid#cN" or "#cid#member#cN", with or
// without the leading '#' — into its JSON form.
func ParseRefJSON(text string) (RefJSON, error) {
	parts := strings.Split(strings.TrimPrefix(text, "#"), "#")
	c, err := cid.Decode(parts[0])
	if err != nil {
		return RefJSON{}, fmt.Errorf("reference %q: %w", text, err)
	}
	r := RefJSON{CID: c.String()}
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		if rest, ok := strings.CutPrefix(p, "c"); ok && last {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return RefJSON{}, fmt.Errorf("reference %q: bad constructor index", text)
			}
			r.Ctor = &n
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || i > 0 {
			return RefJSON{}, fmt.Errorf("reference %q: bad member index", text)
		}
		r.Member = n
	}
	return r, nil
}

// Text is the reference in the language's syntax, #cid[#member][#cN].
func (r RefJSON) Text() string {
	s := "#" + r.CID
	if r.Member != 0 {
		s += "#" + strconv.Itoa(r.Member)
	}
	if r.Ctor != nil {
		s += "#c" + strconv.Itoa(*r.Ctor)
	}
	return s
}

type nameInfoJSON struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	RefJSON
}

// MarshalJSON writes the entry with a plain CID (see above).
func (n NameInfo) MarshalJSON() ([]byte, error) {
	r, err := ParseRefJSON(n.Ref)
	if err != nil {
		return nil, fmt.Errorf("name %s: %w", n.Name, err)
	}
	return json.Marshal(nameInfoJSON{Name: n.Name, Kind: n.Kind, RefJSON: r})
}

// UnmarshalJSON reads what MarshalJSON wrote (a daemon's answer), Ref
// back in the language's syntax.
func (n *NameInfo) UnmarshalJSON(data []byte) error {
	var j nameInfoJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if _, err := cid.Decode(j.CID); err != nil {
		return fmt.Errorf("name %s: cid %q: %w", j.Name, j.CID, err)
	}
	*n = NameInfo{Name: j.Name, Kind: j.Kind, Ref: j.Text()}
	return nil
}
