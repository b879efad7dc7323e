package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func (c *client) version() error {
	ctx, cancel := c.ctx()
	defer cancel()
	v, err := c.rt.Version(ctx, &cri.VersionRequest{})
	if err != nil {
		return fmt.Errorf("getting runtime version from %s: %w", c.endpoint, err)
	}
	fmt.Printf("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
		v.Version, v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	return nil
}

// info prints the runtime status and verbose info, and fails unless
// RuntimeReady is true so that scripts can use it as a readiness probe.
func (c *client) info() error {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.rt.Status(ctx, &cri.StatusRequest{Verbose: true})
	if err != nil {
		return fmt.Errorf("getting status of runtime %s: %w", c.endpoint, err)
	}
	// Conditions are built by hand: the generated json tags use omitempty,
	// which would drop "status": false.
	type cond struct {
		Type    string `json:"type"`
		Status  bool   `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	conds := []cond{}
	ready := false
	for _, x := range r.GetStatus().GetConditions() {
		conds = append(conds, cond{x.Type, x.Status, x.Reason, x.Message})
		if x.Type == cri.RuntimeReady && x.Status {
			ready = true
		}
	}
	if err := printStatusInfo(map[string]any{"conditions": conds}, r.Info); err != nil {
		return err
	}
	if !ready {
		return errors.New("runtime is not ready (RuntimeReady condition is not true)")
	}
	return nil
}

// printStatusInfo prints {"status": ..., <info keys>...} with "status" first
// and the rest sorted, like the real crictl. Info values are JSON documents;
// they are embedded as such (or as strings if they are not valid JSON).
func printStatusInfo(status any, info map[string]string) error {
	st, err := json.Marshal(status)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"status":`)
	buf.Write(st)
	keys := make([]string, 0, len(info))
	for k := range info {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := []byte(info[k])
		if !json.Valid(v) {
			v, _ = json.Marshal(info[k])
		}
		kj, _ := json.Marshal(k)
		buf.WriteString("," + string(kj) + ":")
		buf.Write(v)
	}
	buf.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return err
	}
	fmt.Println(out.String())
	return nil
}

// listOpts are the flags of ps, pods and images.
type listOpts struct{ all, quiet, noTrunc bool }

// parseList parses a list command's flags, splitting combined short flags
// ("-aq" -> "-a -q") as the real crictl accepts them.
func parseList(name string, args []string) (o listOpts, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.BoolVar(&o.all, "a", false, "show all (ps: also exited containers)")
	fs.BoolVar(&o.all, "all", false, "")
	fs.BoolVar(&o.quiet, "q", false, "only print IDs")
	fs.BoolVar(&o.quiet, "quiet", false, "")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "do not truncate IDs")
	var expanded []string
	for _, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && !strings.Contains(a, "=") {
			for _, ch := range a[1:] {
				expanded = append(expanded, "-"+string(ch))
			}
		} else {
			expanded = append(expanded, a)
		}
	}
	return o, fs.Parse(expanded)
}

// emit prints the IDs alone (-q) or a table with crictl's column layout.
func emit(o listOpts, header string, ids []string, rows [][]string) error {
	if o.quiet {
		for _, id := range ids {
			fmt.Println(id)
		}
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 20, 1, 3, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

// trunc shortens IDs to 13 characters, as crictl does without --no-trunc.
func (o listOpts) trunc(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if !o.noTrunc && len(id) > 13 {
		return id[:13]
	}
	return id
}

func ago(nanos int64) string {
	switch d := time.Since(time.Unix(0, nanos)); {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < 2*time.Minute:
		return "About a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 2*time.Hour:
		return "About an hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

func (c *client) ps(args []string) error {
	o, err := parseList("ps", args)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	req := &cri.ListContainersRequest{}
	if !o.all { // like crictl, only running containers unless -a
		req.Filter = &cri.ContainerFilter{State: &cri.ContainerStateValue{State: cri.ContainerState_CONTAINER_RUNNING}}
	}
	r, err := c.rt.ListContainers(ctx, req)
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	cs := r.Containers
	sort.Slice(cs, func(i, j int) bool { return cs[i].CreatedAt > cs[j].CreatedAt })
	var ids []string
	var rows [][]string
	for _, x := range cs {
		image := x.GetImage().GetImage()
		if strings.HasPrefix(image, "sha256:") {
			image = o.trunc(image)
		}
		ids = append(ids, x.Id)
		rows = append(rows, []string{o.trunc(x.Id), image, ago(x.CreatedAt),
			strings.TrimPrefix(x.State.String(), "CONTAINER_"), x.GetMetadata().GetName(), o.trunc(x.PodSandboxId)})
	}
	return emit(o, "CONTAINER\tIMAGE\tCREATED\tSTATE\tNAME\tPOD ID", ids, rows)
}

func (c *client) pods(args []string) error {
	o, err := parseList("pods", args)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	ps := r.Items
	sort.Slice(ps, func(i, j int) bool { return ps[i].CreatedAt > ps[j].CreatedAt })
	var ids []string
	var rows [][]string
	for _, x := range ps {
		ids = append(ids, x.Id)
		rows = append(rows, []string{o.trunc(x.Id), ago(x.CreatedAt),
			strings.TrimPrefix(x.State.String(), "SANDBOX_"), x.GetMetadata().GetName(), x.GetMetadata().GetNamespace()})
	}
	return emit(o, "POD ID\tCREATED\tSTATE\tNAME\tNAMESPACE", ids, rows)
}

// humanSize mirrors docker/go-units HumanSize (decimal units, 4 significant digits).
func humanSize(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f, i := float64(n), 0
	for ; f >= 1000 && i < len(units)-1; i++ {
		f /= 1000
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func (c *client) images(args []string) error {
	o, err := parseList("images", args)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.is.ListImages(ctx, &cri.ListImagesRequest{})
	if err != nil {
		return fmt.Errorf("listing images: %w", err)
	}
	imgs := r.Images
	sort.Slice(imgs, func(i, j int) bool { return strings.Join(imgs[i].RepoTags, ",") < strings.Join(imgs[j].RepoTags, ",") })
	var ids []string
	var rows [][]string
	for _, x := range imgs {
		ids = append(ids, x.Id)
		row := func(repo, tag string) {
			rows = append(rows, []string{repo, tag, o.trunc(x.Id), humanSize(x.Size_)})
		}
		for _, t := range x.RepoTags {
			// Split at the last colon after the last slash, so registry ports survive.
			if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
				row(t[:i], t[i+1:])
			} else {
				row(t, "<none>")
			}
		}
		if len(x.RepoTags) == 0 {
			repo := "<none>"
			if len(x.RepoDigests) > 0 {
				repo, _, _ = strings.Cut(x.RepoDigests[0], "@")
			}
			row(repo, "<none>")
		}
	}
	return emit(o, "IMAGE\tTAG\tIMAGE ID\tSIZE", ids, rows)
}

func (c *client) inspecti(args []string) error {
	if len(args) == 0 {
		return errors.New("inspecti: image name or ID required")
	}
	for _, name := range args {
		ctx, cancel := c.ctx()
		r, err := c.is.ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: name}, Verbose: true})
		cancel()
		if err != nil {
			return fmt.Errorf("image status for %q: %w", name, err)
		}
		if r.Image == nil {
			return fmt.Errorf("no such image %q present", name)
		}
		if err := printStatusInfo(r.Image, r.Info); err != nil {
			return err
		}
	}
	return nil
}
