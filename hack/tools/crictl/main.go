// Command crictl is a minimal CRI client for cri-migrator's node images.
//
// The real crictl (sigs.k8s.io/cri-tools) is not available from the module
// proxy on our build machines, so this implements only the subcommands our
// scripts use, with the same command-line shape: global flags first, then
// the subcommand and its flags, e.g. `crictl -r unix:///run/containerd/containerd.sock ps -a`.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	versionString   = "crictl version v0.0.0-cri-migrator (minimal CRI client)"
	defaultEndpoint = "unix:///run/containerd/containerd.sock"
	defaultConfig   = "/etc/crictl.yaml"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: crictl [GLOBAL FLAGS] COMMAND [FLAGS] [ARGS]

global flags:
  -r, --runtime-endpoint EP  CRI endpoint, unix:///path or /path (default: /etc/crictl.yaml,
                             $CRI_CONFIG_FILE or --config, else `+defaultEndpoint+`)
  -i, --image-endpoint EP    image service endpoint (default: the runtime endpoint)
  -t, --timeout DURATION     timeout of each call (default 10s)
  -c, --config FILE          crictl.yaml to read endpoints and timeout from
  -v, --version              print this client's version

commands:
  version                    runtime name and version
  info                       runtime status and config; fails unless RuntimeReady
  ps [-a] [-q] [--no-trunc]  containers (running only unless -a)
  pods [-q] [--no-trunc]     pod sandboxes
  images [-q] [--no-trunc]   images
  inspecti IMAGE...          image status as JSON
`)
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "crictl:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	g := flag.NewFlagSet("crictl", flag.ContinueOnError)
	g.Usage = usage
	var runtimeEP, imageEP, cfgFile string
	var timeout time.Duration
	var showVersion, debug bool
	// Each flag has crictl's long and short name; the help text is in usage().
	for _, n := range []string{"runtime-endpoint", "r"} {
		g.StringVar(&runtimeEP, n, "", "")
	}
	for _, n := range []string{"image-endpoint", "i"} {
		g.StringVar(&imageEP, n, "", "")
	}
	for _, n := range []string{"timeout", "t"} {
		g.DurationVar(&timeout, n, 10*time.Second, "")
	}
	for _, n := range []string{"config", "c"} {
		g.StringVar(&cfgFile, n, "", "")
	}
	for _, n := range []string{"version", "v"} {
		g.BoolVar(&showVersion, n, false, "")
	}
	for _, n := range []string{"debug", "D"} {
		g.BoolVar(&debug, n, false, "") // accepted for compatibility, ignored
	}
	if err := g.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if showVersion {
		fmt.Println(versionString)
		return nil
	}
	if g.NArg() == 0 {
		usage()
		return errors.New("no command given")
	}

	// Flags win over the config file; the file only fills in what is unset,
	// as with the real crictl.
	set := map[string]bool{}
	g.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfgFile == "" {
		cfgFile = os.Getenv("CRI_CONFIG_FILE")
	}
	if cfgFile == "" {
		cfgFile = defaultConfig
	}
	cfg := readConfig(cfgFile)
	if runtimeEP == "" {
		runtimeEP = cfg["runtime-endpoint"]
	}
	if imageEP == "" {
		imageEP = cfg["image-endpoint"]
	}
	if v := cfg["timeout"]; v != "" && !set["timeout"] && !set["t"] {
		if d, err := parseTimeout(v); err == nil {
			timeout = d
		}
	}
	if runtimeEP == "" {
		runtimeEP = defaultEndpoint
	}
	if imageEP == "" {
		imageEP = runtimeEP
	}

	// grpc.NewClient is lazy, so dialing the image endpoint for a runtime-only
	// command costs nothing; an unreachable socket surfaces as an RPC error.
	rconn, err := dial(runtimeEP)
	if err != nil {
		return err
	}
	defer rconn.Close()
	iconn := rconn
	if imageEP != runtimeEP {
		if iconn, err = dial(imageEP); err != nil {
			return err
		}
		defer iconn.Close()
	}
	c := &client{rt: cri.NewRuntimeServiceClient(rconn), is: cri.NewImageServiceClient(iconn), endpoint: runtimeEP, timeout: timeout}
	cmd, rest := g.Arg(0), g.Args()[1:]
	switch cmd {
	case "version":
		return c.version()
	case "info":
		return c.info()
	case "ps":
		return c.ps(rest)
	case "pods":
		return c.pods(rest)
	case "images", "image", "img":
		return c.images(rest)
	case "inspecti":
		return c.inspecti(rest)
	}
	usage()
	return fmt.Errorf("unknown command %q", cmd)
}

// readConfig reads the flat "key: value" lines of crictl.yaml. The file is
// that simple in practice, so this avoids a YAML dependency.
func readConfig(path string) map[string]string {
	cfg := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return cfg
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		cfg[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return cfg
}

// parseTimeout accepts crictl.yaml's plain seconds ("2") or a Go duration ("2s").
func parseTimeout(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// dial connects over a unix socket; the endpoint is "unix:///path" or a bare path.
func dial(endpoint string) (*grpc.ClientConn, error) {
	path := endpoint
	if strings.Contains(endpoint, "://") {
		scheme, p, _ := strings.Cut(endpoint, "://")
		if scheme != "unix" {
			return nil, fmt.Errorf("unsupported endpoint %q: only unix:// is supported", endpoint)
		}
		path = p
	}
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}
	return grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
}

type client struct {
	rt       cri.RuntimeServiceClient
	is       cri.ImageServiceClient
	endpoint string
	timeout  time.Duration
}

func (c *client) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}
