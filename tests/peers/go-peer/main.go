// Command go-peer is darkscrape's test peer on the OpenZiti Go SDK
// (github.com/openziti/sdk-golang, pinned in go.mod). The Rust tests start it as a child
// process and read one JSON object per stdout line. Flags come before the positional
// arguments (Go's flag package stops at the first positional one).
//
//	go-peer host [-edge-identity] [-terminators N] IDENTITY SERVICE
//	    binds SERVICE, prints {"step":"listening"} once the SDK's listener exists, then
//	    echoes every accepted connection until its peer closes; runs until killed. The
//	    terminators come a moment later: callers retry their first dial.
//	go-peer dial [-terminator NAME] IDENTITY SERVICE N...
//	    for each size N: dials, sends N pseudo-random bytes while reading the echo back,
//	    compares, prints {"step":"echoed","size":N,"received":R,"ok":true|false,
//	    "dial_ms":D,"transfer_ms":T,...} (D: the dial; T: first write to last echoed byte);
//	    exits 1 when any size failed.
//	go-peer pipe IDENTITY SERVICE
//	    dials once, copies stdin to the connection (then half-closes it) and the connection
//	    to stdout until the peer closes.
//	go-peer enroll [-keyAlg EC|RSA] JWT OUT
//	    enrolls with the one-time-token JWT as `ziti edge enroll` does (sdk-golang's
//	    enroll.ParseToken and enroll.Enroll, RSA by default like the CLI), writes the identity
//	    file to OUT as the CLI writes it (JSON, HTML not escaped), prints {"step":"enrolled"}.
//	go-peer metrics IDENTITY SERVICE
//	    binds SERVICE and serves HTTP on it: GET /metrics answers a Prometheus text
//	    exposition with go_peer_up 1 and go_peer_scrapes_total; prints {"step":"listening"}.
//
// The peer does not use ListenOptions.WaitForNEstablishedListeners: in sdk-golang v1.9.0 the
// "established" event can be handled before the new router listener is counted (when the
// router's BindSuccess follows its bind reply at once), and the wait then times out with
// "only had 1" although the terminator exists.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/edge"
	"github.com/openziti/sdk-golang/ziti/enroll"
)

var stdoutMu sync.Mutex

// say prints one JSON line on stdout.
func say(fields map[string]any) {
	line, err := json.Marshal(fields)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"step":"json-error","error":%q}`, err.Error()))
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	_, _ = os.Stdout.Write(append(line, '\n'))
}

func fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	say(map[string]any{"step": "error", "error": msg})
	fmt.Fprintln(os.Stderr, "go-peer:", msg)
	os.Exit(2)
}

func load(identity string) ziti.Context {
	cfg, err := ziti.NewConfigFromFile(identity)
	if err != nil {
		fail("cannot load identity %s: %v", identity, err)
	}
	ctx, err := ziti.NewContext(cfg)
	if err != nil {
		fail("cannot create a context for %s: %v", identity, err)
	}
	if err := ctx.Authenticate(); err != nil {
		fail("cannot authenticate %s: %v", identity, err)
	}
	return ctx
}

func listen(ctx ziti.Context, service string, edgeIdentity bool, terminators int) edge.Listener {
	opts := ziti.DefaultListenOptions()
	opts.BindUsingEdgeIdentity = edgeIdentity
	opts.MaxTerminators = terminators
	listener, err := ctx.ListenWithOptions(service, opts)
	if err != nil {
		fail("cannot bind %s: %v", service, err)
	}
	return listener
}

func host(args []string) {
	fs := flag.NewFlagSet("host", flag.ExitOnError)
	edgeIdentity := fs.Bool("edge-identity", false, "terminator instance id = the identity's name")
	terminators := fs.Int("terminators", 3, "at most this many terminators, one per router")
	identity, service := positional(fs, args)
	ctx := load(identity)
	listener := listen(ctx, service, *edgeIdentity, *terminators)
	say(map[string]any{"step": "listening", "service": service})
	for {
		conn, err := listener.Accept()
		if err != nil {
			fail("accept on %s: %v", service, err)
		}
		go echo(conn)
	}
}

func echo(conn net.Conn) {
	defer conn.Close()
	n, err := io.Copy(conn, conn)
	if err != nil {
		say(map[string]any{"step": "conn-error", "echoed": n, "error": err.Error()})
		return
	}
	if cw, ok := conn.(edge.CloseWriter); ok {
		_ = cw.CloseWrite()
	}
	// Keep the connection until the peer closes, so the half-close is not overtaken.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
}

func dial(args []string) {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	terminator := fs.String("terminator", "", "dial the terminator with this instance id")
	if err := fs.Parse(args); err != nil || fs.NArg() < 3 {
		fail("usage: go-peer dial [-terminator NAME] IDENTITY SERVICE N...")
	}
	identity, service := fs.Arg(0), fs.Arg(1)
	var sizes []int
	for _, arg := range fs.Args()[2:] {
		var n int
		if _, err := fmt.Sscan(arg, &n); err != nil || n < 0 {
			fail("size %q is not a non-negative number", arg)
		}
		sizes = append(sizes, n)
	}
	ctx := load(identity)
	say(map[string]any{"step": "loaded"})
	allOK := true
	for _, size := range sizes {
		allOK = dialOnce(ctx, service, *terminator, size) && allOK
	}
	say(map[string]any{"step": "done", "ok": allOK})
	if !allOK {
		os.Exit(1)
	}
	os.Exit(0)
}

func dialOnce(ctx ziti.Context, service, terminator string, size int) bool {
	opts := &ziti.DialOptions{ConnectTimeout: 15 * time.Second, Identity: terminator}
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		fail("no random bytes: %v", err)
	}
	started := time.Now()
	conn, err := ctx.DialWithOptions(service, opts)
	if err != nil {
		say(map[string]any{"step": "dial-failed", "size": size, "error": err.Error()})
		return false
	}
	defer conn.Close()
	dialMs := float64(time.Since(started).Microseconds()) / 1000
	transferStarted := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		sendErr <- err
	}()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	received := make([]byte, 0, size)
	buf := make([]byte, 64*1024)
	var readErr error
	for len(received) < size {
		n, err := conn.Read(buf)
		received = append(received, buf[:n]...)
		if err != nil {
			readErr = err
			break
		}
	}
	transferMs := float64(time.Since(transferStarted).Microseconds()) / 1000
	errs := []string{}
	if err := <-sendErr; err != nil {
		errs = append(errs, "send: "+err.Error())
	}
	if readErr != nil {
		errs = append(errs, "receive: "+readErr.Error())
	}
	sum := sha256.Sum256(data)
	ok := len(received) == size && string(received) == string(data)
	say(map[string]any{
		"step": "echoed", "size": size, "received": len(received), "ok": ok,
		"errors": errs, "sha256": hex.EncodeToString(sum[:]),
		"dial_ms": dialMs, "transfer_ms": transferMs,
	})
	return ok
}

func pipe(args []string) {
	fs := flag.NewFlagSet("pipe", flag.ExitOnError)
	identity, service := positional(fs, args)
	ctx := load(identity)
	conn, err := ctx.Dial(service)
	if err != nil {
		fail("cannot dial %s: %v", service, err)
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, os.Stdin)
		_ = conn.CloseWrite()
	}()
	if _, err := io.Copy(os.Stdout, conn); err != nil {
		fmt.Fprintln(os.Stderr, "go-peer: receive:", err)
		os.Exit(1)
	}
}

func metrics(args []string) {
	fs := flag.NewFlagSet("metrics", flag.ExitOnError)
	identity, service := positional(fs, args)
	ctx := load(identity)
	listener := listen(ctx, service, false, 3)
	var scrapes atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprintf(w, "# HELP go_peer_up Whether the Go SDK peer is serving.\n"+
			"# TYPE go_peer_up gauge\ngo_peer_up 1\n"+
			"# HELP go_peer_scrapes_total Scrapes answered, this one included.\n"+
			"# TYPE go_peer_scrapes_total counter\ngo_peer_scrapes_total %d\n", n)
	})
	say(map[string]any{"step": "listening", "service": service})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fail("http serving on %s ended: %v", service, server.Serve(listener))
}

func enrollIdentity(args []string) {
	fs := flag.NewFlagSet("enroll", flag.ExitOnError)
	var keyAlg ziti.KeyAlgVar
	if err := keyAlg.Set("RSA"); err != nil {
		fail("default key algorithm: %v", err)
	}
	fs.Var(&keyAlg, "keyAlg", "EC or RSA")
	jwtPath, outPath := positional(fs, args)
	jwtText, err := os.ReadFile(jwtPath)
	if err != nil {
		fail("cannot read the JWT %s: %v", jwtPath, err)
	}
	token, _, err := enroll.ParseToken(string(jwtText))
	if err != nil {
		fail("cannot parse the JWT %s: %v", jwtPath, err)
	}
	cfg, err := enroll.Enroll(enroll.EnrollmentFlags{Token: token, KeyAlg: keyAlg})
	if err != nil {
		fail("enrollment failed: %v", err)
	}
	out, err := os.Create(outPath)
	if err != nil {
		fail("cannot create %s: %v", outPath, err)
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cfg); err != nil {
		fail("cannot write %s: %v", outPath, err)
	}
	if err := out.Close(); err != nil {
		fail("cannot write %s: %v", outPath, err)
	}
	say(map[string]any{"step": "enrolled", "identity": outPath, "keyAlg": keyAlg.Get()})
}

func positional(fs *flag.FlagSet, args []string) (string, string) {
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		fail("usage: go-peer %s [flags] IDENTITY SERVICE", fs.Name())
	}
	return fs.Arg(0), fs.Arg(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: go-peer host|dial|pipe|metrics IDENTITY SERVICE ... or go-peer enroll JWT OUT")
	}
	switch os.Args[1] {
	case "host":
		host(os.Args[2:])
	case "dial":
		dial(os.Args[2:])
	case "pipe":
		pipe(os.Args[2:])
	case "metrics":
		metrics(os.Args[2:])
	case "enroll":
		enrollIdentity(os.Args[2:])
	default:
		fail("unknown mode %q: use host, dial, pipe, metrics or enroll", os.Args[1])
	}
}
