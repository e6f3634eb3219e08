package capabilities

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// testCID returns a distinct, valid CID for each n.
func testCID(t testing.TB, n string) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte(n), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, h)
}

func mustParse(t testing.TB, text string) Sandbox {
	t.Helper()
	s, err := ParseSandbox(text)
	if err != nil {
		t.Fatalf("ParseSandbox(%q): %v", text, err)
	}
	return s
}

// sandboxTexts are valid sandboxes in the text syntax with their canonical
// form ("" when the input is canonical, "<empty>" when it is empty). They seed FuzzParseSandbox.
var sandboxTexts = []struct{ in, canon string }{
	{"", ""},
	{"--allow pure", ""},
	{"--allow pure --deny Int.sub", ""},
	{"--deny Int.sub --allow=pure", "--allow pure --deny Int.sub"},
	{"--allow remote --allow pure --allow pure", "--allow pure --allow remote"},
	{"--allow pure --allow remote --deny Int.sub", ""},
	{"--allow pure --allow remote --deny pure:Int.sub", ""},
	{"--allow pure --deny remote:at", "--allow pure"},
	{"--allow data.read:health/", ""},
	{"--allow data.read:health/ --allow data.read:health/2025/", "--allow data.read:health/"},
	{"--allow data.read:health/x --allow data.read:=health/x", "--allow data.read:health/x"},
	{"--allow data.read:=bob/n", ""},
	{"--allow data.read: --allow data.read:x", "--allow data.read"},
	{"--allow data.write:notes/ --allow data.read", "--allow data.read --allow data.write:notes/"},
	{`--allow "data.read:my docs/"`, ""},
	{`--allow "data.read:quote\"d"`, ""},
	{"--allow-code none", ""},
	{"--allow-code any", "<empty>"}, // any code is the default
	{"--allow-code none --allow-code bafyreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm",
		"--allow-code bafyreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm"},
	{"--allow-target any", ""},
	{"--allow-target 12D3KooWR2EFggDGtpPFiaRbtFoX5beNEDTu6zsaJgPfySg8BtQ5", ""},
	{"--fuel 1000000 --memory 64MiB --time 10s --result 1MiB", ""},
	{"--memory 1024 --result 1000", "--memory 1KiB --result 1000"},
	{"--time 1500ms", "--time 1.5s"},
	{"--allow pure --allow data.read:health/ --deny Int.sub --deny Op.sub --fuel 5 --time 1m0s", ""},
	{"--allow cluster.member:stats", ""},
	{"--allow cluster.member:stats --allow cluster.member:batch --allow cluster.member:stats", "--allow cluster.member:batch --allow cluster.member:stats"},
	{`--allow "cluster.member:big data" --allow cluster --allow-code none`, `--allow cluster --allow "cluster.member:big data" --allow-code none`},
	{"--allow cluster.member:a:b", ""},
}

func TestParseSandboxRoundTrip(t *testing.T) {
	for _, tc := range sandboxTexts {
		s := mustParse(t, tc.in)
		want := tc.canon
		switch want {
		case "":
			want = tc.in
		case "<empty>":
			want = ""
		}
		if got := s.String(); got != want {
			t.Errorf("ParseSandbox(%q).String() = %q, want %q", tc.in, got, want)
		}
		again := mustParse(t, s.String())
		if !again.Equal(s) || again.String() != s.String() {
			t.Errorf("%q does not round-trip: %q", tc.in, again.String())
		}
		args, err := ParseSandboxArgs(s.Args())
		if err != nil || !args.Equal(s) {
			t.Errorf("ParseSandboxArgs(%q) = %v, %v", s.Args(), args, err)
		}
	}
}

func TestParseSandboxErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pure", "expected a flag"},
		{"--allow", "needs a value"},
		{"--allow purr", `unknown group "purr"`},
		{"--allow pure:x", "takes no pattern"},
		{"--allow data:x", "unknown group"},
		{"--deny purr:Int.sub", "unknown group"},
		{"--deny Data.get", "data builtins"},
		{"--deny -x", "bad builtin name"},
		{"--deny =x", "bad builtin name"},
		{"--allow-code bafynotacid", "--allow-code"},
		{"--allow-target QmNotAPeer", "--allow-target"},
		{"--fuel -1", "non-negative"},
		{"--fuel 1 --fuel 2", "twice"},
		{"--memory 1TB", "--memory"},
		{"--memory 9999999999999GiB", "too large"},
		{"--time 1us", "whole milliseconds"},
		{"--time -1s", "non-negative"},
		{"--frobnicate x", "unknown flag"},
		{`--allow "data.read:x`, "bad quoted"},
		{`--allow data.read:a"b`, "quote inside"},
		{"--allow data.read:" + strings.Repeat("x", MaxPatternLen+1), "longer than"},
		{"--deny " + strings.Repeat("x", MaxBuiltinNameLen+1), "longer than"},
		{"--allow cluster.member", "name the cluster"},
		{"--allow cluster.member:", "empty"},
		{"--allow cluster.member:" + strings.Repeat("x", MaxClusterNameLen+1), "longer than"},
		{"--allow \"cluster.member:a\\tb\"", "control"},
		{"--deny cluster.member:x", "unknown group"},
	} {
		_, err := ParseSandbox(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidSandbox) {
			t.Errorf("ParseSandbox(%q) = %v, want an ErrInvalidSandbox containing %q", tc.in, err, tc.want)
		}
	}
}

func TestSandboxJSON(t *testing.T) {
	for _, tc := range sandboxTexts {
		s := mustParse(t, tc.in)
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Sandbox
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !back.Equal(s) {
			t.Errorf("JSON round trip of %q: %s gives %q", tc.in, data, back)
		}
	}
	var s Sandbox
	if err := json.Unmarshal([]byte(`{"allow":["pure"],"deny":["Int.sub"],"fuel":100,"memory":2048,"time":"2s","resultBytes":10}`), &s); err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "--allow pure --deny Int.sub --fuel 100 --memory 2KiB --time 2s --result 10"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{
		`{"allow":["pure"],"colour":"red"}`,
		`{"allow":["purr"]}`,
		`{"code":[]}`,
		`{"time":"soon"}`,
		`{"fuel":-3}`,
		`{"allow":"pure"}`,
		`{} {}`,
	} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("json.Unmarshal(%s) succeeded", bad)
		}
	}
}

func TestSandboxAlgebraTable(t *testing.T) {
	for _, tc := range []struct {
		a, b             string
		union, intersect string
		aInB             bool
	}{
		{"--allow pure", "--allow pure --deny Int.sub",
			"--allow pure", "--allow pure --deny Int.sub", false},
		{"--allow pure --deny Int.sub", "--allow pure --deny Int.mul",
			"--allow pure", "--allow pure --deny Int.mul --deny Int.sub", false},
		{"--allow pure --deny Int.sub", "--allow remote",
			"--allow pure --allow remote --deny pure:Int.sub", "", false},
		{"--allow pure --deny Int.sub --deny Int.mul", "--allow pure --deny Int.sub",
			"--allow pure --deny Int.sub", "--allow pure --deny Int.mul --deny Int.sub", true},
		{"--allow data.read:health/2025/", "--allow data.read:health/",
			"--allow data.read:health/", "--allow data.read:health/2025/", true},
		{"--allow data.read:health/", "--allow data.read:finance/",
			"--allow data.read:finance/ --allow data.read:health/", "", false},
		{"--allow data.read:=health/x", "--allow data.read:health/",
			"--allow data.read:health/", "--allow data.read:=health/x", true},
		{"--allow data.read:=a", "--allow data.read:=b",
			"--allow data.read:=a --allow data.read:=b", "", false},
		{"--allow data.write:x/", "--allow data.read:x/",
			"--allow data.read:x/ --allow data.write:x/", "", false},
		{"--allow-code none", "", "", "--allow-code none", true},
		{"--allow-code " + cidA, "--allow-code " + cidB,
			"--allow-code " + cidB + " --allow-code " + cidA, "--allow-code none", false},
		{"--allow-code " + cidA, "", "", "--allow-code " + cidA, true},
		{"--allow-target " + peerA, "--allow-target any", "--allow-target any", "--allow-target " + peerA, true},
		{"--fuel 10 --time 1s", "--fuel 20 --memory 5",
			"--fuel 20 --memory 5 --time 1s", "--fuel 10", false},
		{"--fuel 10", "--fuel 20 --memory 5", "--fuel 20 --memory 5", "--fuel 10", true},
	} {
		a, b := mustParse(t, tc.a), mustParse(t, tc.b)
		if got := Union(a, b).String(); got != tc.union {
			t.Errorf("Union(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.union)
		}
		if got := Intersect(a, b).String(); got != tc.intersect {
			t.Errorf("Intersect(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.intersect)
		}
		if got := a.IsSubset(b); got != tc.aInB {
			t.Errorf("IsSubset(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.aInB)
		}
	}
}

const (
	cidA  = "bafyreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm"
	cidB  = "bafyreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu"
	peerA = "12D3KooWR2EFggDGtpPFiaRbtFoX5beNEDTu6zsaJgPfySg8BtQ5"
	peerB = "12D3KooWMayRUCEsUSFQimBuNx6juWGQsfw5DrQx2uTZWrmfZK4P"
)

// testCatalog is a small stand-in for the evaluator's builtin table.
var testCatalog = Catalog{
	GroupOf: func(name string) string {
		switch {
		case strings.HasPrefix(name, "Int."), strings.HasPrefix(name, "Float."),
			strings.HasPrefix(name, "Op."), strings.HasPrefix(name, "List."):
			return GroupPure
		case name == "at" || name == "at'" || name == "here" || name == "await":
			return GroupRemote
		case name == "send" || name == "channel":
			return GroupChannel
		case name == "provision":
			return GroupCluster
		case name == "Data.get" || name == "Data.list":
			return GroupDataRead
		case name == "Data.put" || name == "Data.delete":
			return GroupDataWrite
		}
		return ""
	},
	Covers: func(name string) []string {
		switch name {
		case "Op.sub":
			return []string{"Int.sub", "Float.sub"}
		case "Op.add":
			return []string{"Int.add", "Float.add"}
		}
		return nil
	},
}

func mustPeer(t testing.TB, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCheckerSeedExamples(t *testing.T) {
	self, caller := mustPeer(t, peerA), mustPeer(t, peerB)
	// Bob may evaluate pure code but not Int.sub.
	bob := NewChecker(mustParse(t, "--allow pure --deny Int.sub --fuel 1000 --memory 1MiB --time 1s --result 1KiB"), testCatalog, self, caller)
	for name, want := range map[string]bool{
		"Int.add": true, "Op.add": true, "List.map": true,
		"Int.sub": false, "Op.sub": false, "at": false, "Data.get": false, "Unknown.thing": false,
	} {
		if got := bob.AllowsBuiltin(name); got != want {
			t.Errorf("Bob: AllowsBuiltin(%s) = %v, want %v", name, got, want)
		}
	}
	err := bob.CheckLink([]string{"Int.add", "Op.sub"}, nil)
	var d *DeniedError
	if !errors.As(err, &d) || d.Kind != DeniedBuiltin || d.Name != "Op.sub" || !strings.Contains(err.Error(), "Int.sub") {
		t.Errorf("CheckLink: %v", err)
	}
	if !errors.Is(err, ErrDenied) {
		t.Errorf("CheckLink error does not match ErrDenied: %v", err)
	}

	// Bob may read one number and nothing else.
	one := NewChecker(mustParse(t, "--allow data.read:=bob/n --allow-code none --fuel 10 --memory 1KiB --time 1s --result 1KiB"), testCatalog, self, caller)
	if !one.AllowsBuiltin("Data.get") || one.AllowsBuiltin("Int.add") || one.AllowsBuiltin("Data.put") {
		t.Errorf("one-number sandbox builtins wrong")
	}
	if !one.AllowsData(DataGet, "bob/n") || one.AllowsData(DataGet, "bob/n2") || one.AllowsData(DataList, "bob/") ||
		one.AllowsData(DataList, "bob/n") || one.AllowsData(DataPut, "bob/n") {
		t.Errorf("one-number sandbox data wrong")
	}
	if one.AllowsDef(testCID(t, "x")) {
		t.Errorf("one-number sandbox allows a definition")
	}

	// Eve may evaluate all pure code.
	eve := NewChecker(PureSandbox(DefaultBudget()), testCatalog, self, caller)
	if !eve.AllowsBuiltin("Int.sub") || !eve.AllowsBuiltin("Op.sub") || !eve.AllowsDef(testCID(t, "x")) || eve.AllowsBuiltin("send") {
		t.Errorf("Eve's sandbox wrong")
	}
	if err := eve.CheckLink([]string{"Int.sub"}, []cid.Cid{testCID(t, "x")}); err != nil {
		t.Errorf("Eve: %v", err)
	}
}

func TestCheckerDataAndTargets(t *testing.T) {
	self, caller, third := mustPeer(t, peerA), mustPeer(t, peerB), mustPeer(t, "12D3KooWLSdujhVnisgc9RrmgL8VkfPrSyLD3vGKRbjdZSdm2kEu")
	ins := NewChecker(mustParse(t, "--allow pure --allow remote --allow channel --allow data.read:health/ --fuel 10 --memory 1 --time 1s --result 1"), testCatalog, self, caller)
	for _, tc := range []struct {
		op, key string
		want    bool
	}{
		{DataGet, "health/2025/bp", true},
		{DataList, "health/", true},
		{DataList, "health/2025/", true},
		{DataList, "", false},
		{DataGet, "finance/x", false},
		{DataGet, "healthcare", false},
		{DataPut, "health/x", false},
		{DataDelete, "health/x", false},
		{"frob", "health/x", false},
	} {
		if got := ins.AllowsData(tc.op, tc.key); got != tc.want {
			t.Errorf("AllowsData(%s, %q) = %v, want %v", tc.op, tc.key, got, tc.want)
		}
	}
	var d *DeniedError
	if err := ins.CheckData(DataPut, "health/x"); !errors.As(err, &d) || d.Kind != DeniedDataWrite {
		t.Errorf("CheckData put: %v", err)
	}
	if !ins.AllowsTarget(caller.String()) || !ins.AllowsTarget(self.String()) {
		t.Errorf("caller and self must be allowed targets")
	}
	if ins.AllowsTarget(third.String()) || ins.AllowsTarget("garbage") {
		t.Errorf("a third node is an allowed target")
	}
	// A CIDv1 spelling of the caller's peer ID is the same node.
	if !ins.AllowsTarget(peer.ToCid(caller).String()) {
		t.Errorf("CID form of the caller not recognised")
	}
	more := NewChecker(Union(ins.Sandbox(), mustParse(t, "--allow-target "+third.String())), testCatalog, self, caller)
	if !more.AllowsTarget(third.String()) {
		t.Errorf("listed target not allowed")
	}
	if !NewChecker(mustParse(t, "--allow-target any"), testCatalog, self, caller).AllowsTarget(third.String()) {
		t.Errorf("any target")
	}
}

func TestCheckLinkZeroBudget(t *testing.T) {
	c := NewChecker(mustParse(t, "--allow pure --fuel 10"), testCatalog, "", "")
	var d *DeniedError
	if err := c.CheckLink(nil, nil); !errors.As(err, &d) || d.Kind != DeniedBudget || !strings.Contains(err.Error(), "memory") {
		t.Errorf("CheckLink with no memory budget: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tooMany := make([]string, MaxPatterns+1)
	for i := range tooMany {
		tooMany[i] = string(rune('a' + i))
	}
	for _, s := range []Sandbox{
		{Groups: []Group{{Name: "pure"}, {Name: "pure"}}},
		{Groups: []Group{{Name: "data.read"}}},
		{Groups: []Group{{Name: "magic"}}},
		{Read: tooMany},
		{Read: []string{"\xff"}},
		{AnyCode: true, Code: []cid.Cid{testCID(t, "a")}},
		{Code: []cid.Cid{{}}},
		{AnyTarget: true, Targets: []peer.ID{mustPeer(t, peerA)}},
		{Targets: []peer.ID{""}},
		{Budget: Budget{Fuel: -1}},
		{Budget: Budget{Time: time.Microsecond}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSandbox) {
			t.Errorf("Validate(%#v) = %v", s, err)
		}
	}
}
