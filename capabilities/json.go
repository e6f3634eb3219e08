package capabilities

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// sandboxJSON is the JSON form of a sandbox (config.json): the same items
// as the text syntax, grouped by flag.
//
//	{"allow": ["pure", "data.read:health/"], "deny": ["Int.sub"],
//	 "code": ["bafy..."], "targets": ["12D3KooW..."],
//	 "fuel": 10000000, "memory": 67108864, "time": "10s", "resultBytes": 1048576}
//
// "code" omitted means any definition, ["none"] none; "targets" omitted
// means none but the caller, ["any"] any node.
type sandboxJSON struct {
	Allow   []string `json:"allow,omitempty"`
	Deny    []string `json:"deny,omitempty"`
	Code    []string `json:"code,omitempty"`
	Targets []string `json:"targets,omitempty"`
	Fuel    int64    `json:"fuel,omitempty"`
	Memory  int64    `json:"memory,omitempty"`
	Time    string   `json:"time,omitempty"`
	Result  int64    `json:"resultBytes,omitempty"`
}

// MarshalJSON writes the JSON form of s (normalized).
func (s Sandbox) MarshalJSON() ([]byte, error) {
	var j sandboxJSON
	args := s.Args()
	for i := 0; i+1 < len(args); i += 2 {
		v := args[i+1]
		switch args[i] {
		case flagAllow:
			j.Allow = append(j.Allow, v)
		case flagDeny:
			j.Deny = append(j.Deny, v)
		case flagAllowCode:
			j.Code = append(j.Code, v)
		case flagAllowTarget:
			j.Targets = append(j.Targets, v)
		}
	}
	b := s.Normalize().Budget
	j.Fuel, j.Memory, j.Result = b.Fuel, b.Memory, b.Result
	if b.Time != 0 {
		j.Time = b.Time.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the JSON form strictly: unknown keys, trailing data
// and invalid items are errors.
func (s *Sandbox) UnmarshalJSON(data []byte) error {
	var j sandboxJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return invalidf("%v", err)
	}
	if dec.More() {
		return invalidf("trailing data after the sandbox")
	}
	if j.Code != nil && len(j.Code) == 0 {
		return invalidf(`"code": [] is ambiguous: omit it to allow any definition, or write ["none"]`)
	}
	var args []string
	for _, v := range j.Allow {
		args = append(args, flagAllow, v)
	}
	for _, v := range j.Deny {
		args = append(args, flagDeny, v)
	}
	for _, v := range j.Code {
		args = append(args, flagAllowCode, v)
	}
	for _, v := range j.Targets {
		args = append(args, flagAllowTarget, v)
	}
	if j.Fuel != 0 {
		args = append(args, flagFuel, strconv.FormatInt(j.Fuel, 10))
	}
	if j.Memory != 0 {
		args = append(args, flagMemory, strconv.FormatInt(j.Memory, 10))
	}
	if j.Time != "" {
		if _, err := time.ParseDuration(j.Time); err != nil {
			return invalidf("time %q: %v", j.Time, err)
		}
		args = append(args, flagTime, j.Time)
	}
	if j.Result != 0 {
		args = append(args, flagResult, strconv.FormatInt(j.Result, 10))
	}
	out, err := ParseSandboxArgs(args)
	if err != nil {
		return err
	}
	*s = out
	return nil
}
