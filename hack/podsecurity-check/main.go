// Command podsecurity-check evaluates the pods of rendered manifests (stdin, multi-document
// YAML) against a Pod Security Standards level with the checks of the Kubernetes admission
// plugin itself (k8s.io/pod-security-admission), offline. It prints one line per pod
// template and exits 1 when any is forbidden.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

type podOf struct {
	what string
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
}

func pods(doc []byte) ([]podOf, error) {
	var head struct {
		Kind     string            `json:"kind"`
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return nil, err
	}
	what := head.Kind + "/" + head.Metadata.Name
	switch head.Kind {
	case "Pod":
		var o corev1.Pod
		err := yaml.Unmarshal(doc, &o)
		return []podOf{{what, &o.ObjectMeta, &o.Spec}}, err
	case "Deployment":
		var o appsv1.Deployment
		err := yaml.Unmarshal(doc, &o)
		return []podOf{{what, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec}}, err
	case "StatefulSet":
		var o appsv1.StatefulSet
		err := yaml.Unmarshal(doc, &o)
		return []podOf{{what, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec}}, err
	case "DaemonSet":
		var o appsv1.DaemonSet
		err := yaml.Unmarshal(doc, &o)
		return []podOf{{what, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec}}, err
	case "Job":
		var o batchv1.Job
		err := yaml.Unmarshal(doc, &o)
		return []podOf{{what, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec}}, err
	}
	return nil, nil
}

func main() {
	levelName := flag.String("level", "restricted", "baseline or restricted")
	flag.Parse()
	level, err := api.ParseLevel(*levelName)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	lv := api.LevelVersion{Level: level, Version: api.LatestVersion()}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	seen, forbidden := 0, 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		found, err := pods(doc)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, p := range found {
			seen++
			result := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, p.meta, p.spec))
			if result.Allowed {
				fmt.Printf("%s: allowed at %s\n", p.what, lv.String())
				continue
			}
			forbidden++
			fmt.Printf("%s: forbidden at %s: %s\n", p.what, lv.String(), result.ForbiddenDetail())
		}
	}
	if seen == 0 {
		fmt.Fprintln(os.Stderr, "no pod templates in the input")
		os.Exit(2)
	}
	if forbidden > 0 {
		os.Exit(1)
	}
}
