package purge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Request is the body of a purge request, a JSON object with up to three members:
//
//	{"paths": ["/icecream/vanilla", "/"]}    every variant of each path
//	{"tags": ["icecream:42"]}                every response carrying one of the tags
//	{"paths": ["/"], "tags": ["icecream:42"]} both
//	{"all": true}                            every cached response
//
// Paths are read as [dumper.Cache.InvalidatePaths] reads them (a "%" or a "?" invalidates
// both readings), tags as [dumper.Cache.InvalidateTags] does. Member names are matched
// exactly (lower case); a member may appear once; paths and tags are arrays of strings; all
// is a boolean, and true excludes paths and tags. Anything else — another member, a null, a
// second value after the object, a body that is not UTF-8 — is refused with 400, and
// nothing is purged. json.Marshal of a Request gives a body the handler accepts, provided it
// names something.
type Request struct {
	Paths []string `json:"paths,omitempty"`
	Tags  []string `json:"tags,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// requestError is a request refused before anything was purged, with its status and the
// text its client is told.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// parseRequest reads a request body: at most maxItems paths and tags together.
func parseRequest(body []byte, maxItems int) (Request, error) {
	var req Request
	if !utf8.Valid(body) {
		return req, badRequest("purge: the body is not UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := expectDelim(d, '{', "the body"); err != nil {
		return req, err
	}
	seen := map[string]bool{}
	items := 0
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return req, syntaxError(err)
		}
		name, _ := tok.(string) // an object's keys are strings
		if seen[name] {
			return req, badRequest("purge: member %q given twice", name)
		}
		seen[name] = true
		switch name {
		case "paths", "tags":
			list, err := stringArray(d, name, maxItems-items)
			if err != nil {
				return req, err
			}
			items += len(list)
			if name == "paths" {
				req.Paths = list
			} else {
				req.Tags = list
			}
		case "all":
			tok, err := d.Token()
			if err != nil {
				return req, syntaxError(err)
			}
			b, ok := tok.(bool)
			if !ok {
				return req, badRequest("purge: \"all\" must be true or false, not %s", describe(tok))
			}
			req.All = b
		default:
			return req, badRequest("purge: unknown member %q (want \"paths\", \"tags\" or \"all\")", name)
		}
	}
	if err := expectDelim(d, '}', "the object"); err != nil {
		return req, err
	}
	if _, err := d.Token(); err != io.EOF {
		return req, badRequest("purge: data after the JSON object")
	}
	switch {
	case req.All && (seen["paths"] || seen["tags"]):
		return req, badRequest("purge: \"all\": true purges everything; give it without paths or tags")
	case !req.All && len(req.Paths) == 0 && len(req.Tags) == 0:
		return req, badRequest(`purge: nothing to purge: give "paths", "tags" or "all": true`)
	}
	return req, nil
}

// stringArray reads the array of strings of member name, of at most max elements.
func stringArray(d *json.Decoder, name string, max int) ([]string, error) {
	if err := expectDelim(d, '[', fmt.Sprintf("%q", name)); err != nil {
		return nil, err
	}
	list := []string{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		s, ok := tok.(string)
		if !ok {
			return nil, badRequest("purge: %q must hold strings, not %s", name, describe(tok))
		}
		if strings.ContainsRune(s, utf8.RuneError) {
			// encoding/json decodes a lone surrogate escape ("\ud800") as U+FFFD: purging
			// that would purge something else than what the script wrote.
			return nil, badRequest("purge: %q holds U+FFFD, the replacement character (or a lone surrogate escape): refused, as it cannot name what was meant", name)
		}
		if len(list) == max {
			return nil, &requestError{http.StatusRequestEntityTooLarge, "purge: too many paths and tags in one request"}
		}
		list = append(list, s)
	}
	if err := expectDelim(d, ']', fmt.Sprintf("%q", name)); err != nil {
		return nil, err
	}
	return list, nil
}

// expectDelim reads the delimiter want, that what opens or closes.
func expectDelim(d *json.Decoder, want json.Delim, what string) error {
	tok, err := d.Token()
	if err != nil {
		return syntaxError(err)
	}
	if tok != want {
		kind := "an object"
		switch want {
		case '[':
			kind = "an array of strings"
		case ']', '}':
			return badRequest("purge: unexpected %s in %s", describe(tok), what)
		}
		return badRequest("purge: %s must be %s, not %s", what, kind, describe(tok))
	}
	return nil
}

// syntaxError is the refusal of a body that is not JSON.
func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("purge: the body ends before the JSON object does")
	}
	return badRequest("purge: the body is not valid JSON: %v", err)
}

// describe names the kind of a JSON token, for error messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprint(v)
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case json.Delim:
		switch v {
		case '[', ']':
			return "an array"
		default:
			return "an object"
		}
	}
	return fmt.Sprintf("%v", tok)
}
