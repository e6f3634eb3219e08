package repo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
)

// checkPrivate fails the test for any directory under root whose mode is
// not exactly 0700 or regular file not exactly 0600.
func checkPrivate(t *testing.T, root string) (files int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if info.Mode().Perm() != dirPerm {
				t.Errorf("%s: directory mode %v, want %v", p, info.Mode().Perm(), dirPerm)
			}
		case d.Type().IsRegular():
			files++
			if info.Mode().Perm() != filePerm {
				t.Errorf("%s: file mode %v, want %v", p, info.Mode().Perm(), filePerm)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRepoPermissions is issue 7's case 9: a repo directory that exists
// with mode 0755 (and a file in it 0644) is restricted to the owner on
// open, and Open says what it changed, once; the datastore's files and
// directories, created by pebble, are 0600 and 0700 whatever the umask.
func TestRepoPermissions(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask: pebble would make 0644 files
	defer syscall.Umask(old)
	ctx := context.Background()

	path := filepath.Join(t.TempDir(), "r")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Tightened, ".") {
		t.Errorf("Tightened = %v, want the directory", r.Tightened)
	}
	// A file unode does not know is not its business (the directory
	// closes it to others anyway).
	if info, err := os.Stat(filepath.Join(path, "notes.txt")); err != nil || info.Mode().Perm() != 0o644 || slices.Contains(r.Tightened, "notes.txt") {
		t.Errorf("notes.txt: %v (%v), Tightened %v; want it left alone", info.Mode(), err, r.Tightened)
	}
	os.Remove(filepath.Join(path, "notes.txt"))
	// Enough writes for pebble to have a WAL, a manifest and options.
	for i := range 100 {
		if err := r.Datastore.Put(ctx, datastore.NewKey("/data/k"+string(rune('a'+i%26))), bytes.Repeat([]byte("v"), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := checkPrivate(t, path); n < 5 {
		t.Errorf("only %d files in the repo", n)
	}
	if n := checkPrivate(t, filepath.Join(path, "datastore")); n < 3 {
		t.Errorf("only %d files in the datastore", n)
	}

	// Reopened, there is nothing left to restrict: nothing to report.
	r, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tightened) != 0 {
		t.Errorf("second open: Tightened = %v", r.Tightened)
	}
	r.Close()

	// A fresh repo is private from the start.
	fresh := filepath.Join(t.TempDir(), "fresh")
	r, err = Open(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tightened) != 0 {
		t.Errorf("fresh repo: Tightened = %v", r.Tightened)
	}
	r.Close()
	checkPrivate(t, fresh)
}

// TestRepoFilesTightened: a repo written by an older unode (key, config
// and datastore files readable by others) is restricted on open.
func TestRepoFilesTightened(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "r")
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Datastore.Put(context.Background(), datastore.NewKey("/data/x"), []byte("secret")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	loosen := []string{".", "config.json", "key", "datastore"}
	ents, _ := os.ReadDir(filepath.Join(path, "datastore"))
	for _, e := range ents {
		loosen = append(loosen, filepath.Join("datastore", e.Name()))
	}
	for _, p := range loosen {
		mode := os.FileMode(0o644)
		if p == "." || p == "datastore" {
			mode = 0o755
		}
		if err := os.Chmod(filepath.Join(path, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	r, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	slices.Sort(loosen)
	got := slices.Clone(r.Tightened)
	slices.Sort(got)
	if !slices.Equal(got, loosen) {
		t.Errorf("Tightened = %v, want %v", got, loosen)
	}
	checkPrivate(t, path)
}

// TestDatastoreOutsideRepo: a datastore configured outside the repo
// directory is restricted too.
func TestDatastoreOutsideRepo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	ds := filepath.Join(t.TempDir(), "ds")
	if err := os.Mkdir(ds, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(ds, 0o755)
	if err := Init(path); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Datastore.Path = ds
	if err := (&Repo{Path: path, Config: cfg}).SaveConfig(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Tightened, ds) {
		t.Errorf("Tightened = %v, want %s", r.Tightened, ds)
	}
	r.Close()
	checkPrivate(t, ds)
}

// TestWriteFileAtomicMode: a temporary file left by a crash with a loose
// mode does not pass its mode on.
func TestWriteFileAtomicMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p+".tmp", []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("{}\n"), filePerm); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != filePerm {
		t.Fatalf("mode %v (%v), want %v", info.Mode().Perm(), err, filePerm)
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
}

// envCrashChild names the repo a child process writes to before it kills
// itself (TestAcknowledgedWriteSurvivesKill).
const envCrashChild = "UNODE_TEST_REPO_CRASH_CHILD"

// TestAcknowledgedWriteSurvivesKill is issue 7's case 1 at the level of
// the repo: a process writes a value, and once the write returned
// (acknowledged) it is killed with SIGKILL, never closing the datastore.
// The value must be there on reopen. With go-ds-pebble's default
// (NoSync) the write sat in pebble's log buffer in the dead process.
func TestAcknowledgedWriteSurvivesKill(t *testing.T) {
	if path := os.Getenv(envCrashChild); path != "" {
		crashChild(path)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r")
	for round := range 3 {
		cmd := exec.Command(exe, "-test.run=^TestAcknowledgedWriteSurvivesKill$")
		cmd.Env = append(os.Environ(), envCrashChild+"="+path)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatal("child did not finish")
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(out.String(), "acknowledged") {
			t.Fatalf("child: %v, output %q; want it killed after acknowledging", err, out.String())
		}
		r, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		for _, k := range []string{"/data/one", "/grants/two", "/revoked/three"} {
			v, err := r.Datastore.Get(context.Background(), datastore.NewKey(k))
			if err != nil || string(v) != "v" {
				t.Errorf("round %d: %s after kill -9: %q, %v; want it acknowledged and kept", round, k, v, err)
			}
		}
		r.Close()
	}
}

// crashChild writes three values one at a time, says so, and dies.
func crashChild(path string) {
	r, err := Open(path)
	if err != nil {
		os.Stdout.WriteString("open: " + err.Error() + "\n")
		os.Exit(2)
	}
	for _, k := range []string{"/data/one", "/grants/two", "/revoked/three"} {
		if err := r.Datastore.Put(context.Background(), datastore.NewKey(k), []byte("v")); err != nil {
			os.Stdout.WriteString("put: " + err.Error() + "\n")
			os.Exit(2)
		}
	}
	os.Stdout.WriteString("acknowledged\n")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}
