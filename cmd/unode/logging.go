package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/zap/zapcore"
)

// The daemon's logs. Everything it logs goes through one slog handler
// on stderr, in one format (--log-format text|json): unode's own lines,
// and those of the libraries under it: go-libp2p, which logs through
// log/slog (its gologshim package, given our handler), and the DHT and
// boxo, which log through go-log's zap core (given a core that hands
// each entry to our handler). A library's lines carry "logger": its
// subsystem (swarm2, basichost, dht, ...), as go-log's own format does.
// Without this, GOLOG_LOG_LEVEL turned on a second format on stderr.
//
// Levels are a spec, "LEVEL[,NAME=LEVEL...]" (docs/config.md "Logs"):
// LEVEL is unode's own (default info), NAME=LEVEL a library logger's,
// and libp2p=LEVEL every library logger not named (default error, as
// go-log's). The config's log.level is read first, then
// GOLOG_LOG_LEVEL (its entries name libraries: a bare level there is
// libp2p's), then UNODE_LOG, then --log-level; a later entry for the
// same name wins.

// libraryGroup names, in a level spec, every library logger.
const libraryGroup = "libp2p"

// logLevels is a parsed level spec.
type logLevels struct {
	own  slog.Level            // unode's
	libs slog.Level            // libraries' not named
	by   map[string]slog.Level // named library loggers
}

func defaultLogLevels() logLevels {
	return logLevels{own: slog.LevelInfo, libs: slog.LevelError, by: map[string]slog.Level{}}
}

// parseLevel reads a level name: slog's, and go-log's (warning, dpanic,
// panic and fatal, the last three as error: a library logging them
// still gets its line).
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "dpanic", "panic", "fatal":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
}

// apply reads a level spec into l. bareIsLibs makes a bare level set the
// libraries' (GOLOG_LOG_LEVEL's meaning) rather than unode's.
func (l *logLevels) apply(spec string, bareIsLibs bool) error {
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, lvl, named := strings.Cut(part, "=")
		if !named {
			lvl, name = name, ""
		}
		v, err := parseLevel(lvl)
		if err != nil {
			return err
		}
		switch name = strings.TrimSpace(name); {
		case name == "" && bareIsLibs, name == libraryGroup, name == "*":
			l.libs = v
		case name == "":
			l.own = v
		case name == "unode":
			l.own = v
		default:
			l.by[name] = v
		}
	}
	return nil
}

// lib is the level of the library logger name.
func (l *logLevels) lib(name string) slog.Level {
	if v, ok := l.by[name]; ok {
		return v
	}
	return l.libs
}

// lowest is the most verbose level any logger has.
func (l *logLevels) lowest() slog.Level {
	m := min(l.own, l.libs)
	for _, v := range l.by {
		m = min(m, v)
	}
	return m
}

// logSettings are what the daemon logs and how.
type logSettings struct {
	levels logLevels
	json   bool
}

// resolveLogSettings combines the config's "log" section, the
// environment and the flags (empty when not given).
func resolveLogSettings(cfgLevel, cfgFormat, flagLevel, flagFormat string) (logSettings, error) {
	s := logSettings{levels: defaultLogLevels()}
	for _, src := range []struct {
		what, spec string
		bareIsLibs bool
	}{
		{"config log.level", cfgLevel, false},
		{"GOLOG_LOG_LEVEL", os.Getenv("GOLOG_LOG_LEVEL"), true},
		{"UNODE_LOG", os.Getenv("UNODE_LOG"), false},
		{"--log-level", flagLevel, false},
	} {
		if err := s.levels.apply(src.spec, src.bareIsLibs); err != nil {
			return s, fmt.Errorf("%s: %w", src.what, err)
		}
	}
	format := cfgFormat
	if flagFormat != "" {
		format = flagFormat
	}
	switch format {
	case "", "text":
	case "json":
		s.json = true
	default:
		return s, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return s, nil
}

// newDaemonLogger makes the daemon's logger on w and routes the
// libraries' logs to the same handler, until the returned stop is
// called (the daemon exits; later library lines are dropped).
func newDaemonLogger(w io.Writer, s logSettings) (log *slog.Logger, stop func()) {
	opts := &slog.HandlerOptions{Level: s.levels.lowest()}
	var base slog.Handler
	if s.json {
		base = slog.NewJSONHandler(w, opts)
	} else {
		base = slog.NewTextHandler(w, opts)
	}
	t := &logTarget{h: base, levels: s.levels}
	routeLibraryLogs(t)
	stop = func() {
		libTarget.CompareAndSwap(t, nil)
	}
	return slog.New(&levelHandler{Handler: base, level: s.levels.own}), stop
}

// levelHandler passes on the records at level or above.
type levelHandler struct {
	slog.Handler
	level slog.Level
}

func (h *levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}

// ---- the libraries' logs ----

// logTarget is where library logs go while a daemon runs: its handler,
// and the levels of the library loggers.
type logTarget struct {
	h      slog.Handler
	levels logLevels
}

// libTarget is the running daemon's target, or nil. Library loggers are
// process-wide (package variables in go-libp2p and the DHT, bound to a
// handler once, at their first line), so they are given one handler,
// libHandler, that looks the target up on each line.
var libTarget atomic.Pointer[logTarget]

var wireLibraryLogs sync.Once

// routeLibraryLogs makes t the target of library logs, and on first use
// wires go-libp2p and go-log to it. go-libp2p's loggers that logged
// before (only in a process that ran a host before its daemon: tests)
// keep the handler they had.
func routeLibraryLogs(t *logTarget) {
	libTarget.Store(t)
	wireLibraryLogs.Do(func() {
		gologshim.SetDefaultHandler(&libHandler{})
		golog.SetPrimaryCore(&zapCore{})
	})
	// go-log filters by its own per-logger levels before our core sees
	// an entry: set them to the spec's ("*" first, also the default of
	// loggers created later).
	golog.SetLogLevel("*", zapLevelName(t.levels.libs))
	for name, v := range t.levels.by {
		golog.SetLogLevel(name, zapLevelName(v))
	}
}

func zapLevelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}

// libHandler is the slog handler of go-libp2p's loggers: each gets one
// WithAttrs(logger=<subsystem>) of it, whose level is that subsystem's.
type libHandler struct {
	system string
	// ops are the WithAttrs and WithGroup calls made on it, replayed on
	// the target's handler (cached per target).
	ops    []func(slog.Handler) slog.Handler
	cached atomic.Pointer[derived]
}

type derived struct {
	t *logTarget
	h slog.Handler
}

func (h *libHandler) handler(t *logTarget) slog.Handler {
	if d := h.cached.Load(); d != nil && d.t == t {
		return d.h
	}
	out := t.h
	for _, op := range h.ops {
		out = op(out)
	}
	h.cached.Store(&derived{t, out})
	return out
}

func (h *libHandler) Enabled(_ context.Context, l slog.Level) bool {
	t := libTarget.Load()
	return t != nil && l >= t.levels.lib(h.system)
}

func (h *libHandler) Handle(ctx context.Context, r slog.Record) error {
	t := libTarget.Load()
	if t == nil || r.Level < t.levels.lib(h.system) {
		return nil
	}
	return h.handler(t).Handle(ctx, r)
}

func (h *libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &libHandler{system: h.system, ops: slices.Clip(h.ops)}
	for _, a := range as {
		if a.Key == "logger" && n.system == "" {
			n.system = a.Value.String()
		}
	}
	as = slices.Clone(as)
	n.ops = append(n.ops, func(x slog.Handler) slog.Handler { return x.WithAttrs(as) })
	return n
}

func (h *libHandler) WithGroup(name string) slog.Handler {
	n := &libHandler{system: h.system, ops: slices.Clip(h.ops)}
	n.ops = append(n.ops, func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
	return n
}

// zapCore is go-log's primary core: it hands each entry that go-log's
// level let through to the target's handler as a slog record, with the
// logger's name as "logger" and zap's fields as attributes.
type zapCore struct {
	fields []zapcore.Field
}

var _ zapcore.Core = (*zapCore)(nil)

func (c *zapCore) Enabled(zapcore.Level) bool { return libTarget.Load() != nil }

func (c *zapCore) With(fs []zapcore.Field) zapcore.Core {
	return &zapCore{fields: append(slices.Clip(c.fields), fs...)}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	t := libTarget.Load()
	if t == nil {
		return nil
	}
	l := slogLevelOf(e.Level)
	if l < t.levels.lib(e.LoggerName) {
		return nil
	}
	r := slog.NewRecord(e.Time, l, e.Message, 0)
	r.AddAttrs(slog.String("logger", e.LoggerName))
	for _, f := range append(slices.Clip(c.fields), fs...) {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for k, v := range enc.Fields {
			r.AddAttrs(slog.Any(k, v))
		}
	}
	return t.h.Handle(context.Background(), r)
}

func (c *zapCore) Sync() error { return nil }

func slogLevelOf(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}
