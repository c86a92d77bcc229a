package icecream

import (
	"net/http"
	"strings"
)

// messages is the text of the pages in one language. None of it names a flavor or a size:
// a page shows only the names it depends on.
type messages struct {
	Lang         string // BCP 47 tag, for the lang attribute and Content-Language
	Shop         string
	Flavors      string
	NoFlavors    string
	AvailableIn  string
	NoSizes      string
	InThisSize   string
	NoSizeFlavor string
	AllFlavors   string
	NotFound     string
	NothingHere  string
	Hello        string // format with one %s: the user's name
	SignedOut    string
	YourName     string
	SignIn       string
	Footer       string
}

var english = messages{
	Lang:         "en",
	Shop:         "The Ice-Cream Shop",
	Flavors:      "Our flavors",
	NoFlavors:    "No flavors yet.",
	AvailableIn:  "Available in",
	NoSizes:      "Not available in any size yet.",
	InThisSize:   "Flavors served in this size",
	NoSizeFlavor: "No flavor is served in this size yet.",
	AllFlavors:   "All flavors",
	NotFound:     "Not found",
	NothingHere:  "There is nothing here.",
	Hello:        "Hello, %s",
	SignedOut:    "You are not signed in.",
	YourName:     "Your name",
	SignIn:       "Sign in",
	Footer:       "Served by dumper: this page stays cached until the data behind it changes.",
}

var french = messages{
	Lang:         "fr",
	Shop:         "Le Glacier",
	Flavors:      "Nos parfums",
	NoFlavors:    "Pas encore de parfum.",
	AvailableIn:  "Disponible en",
	NoSizes:      "Pas encore disponible.",
	InThisSize:   "Parfums servis dans ce format",
	NoSizeFlavor: "Aucun parfum n’est encore servi dans ce format.",
	AllFlavors:   "Tous les parfums",
	NotFound:     "Introuvable",
	NothingHere:  "Il n’y a rien ici.",
	Hello:        "Bonjour, %s",
	SignedOut:    "Vous n’êtes pas connecté.",
	YourName:     "Votre nom",
	SignIn:       "Se connecter",
	Footer:       "Servi par dumper : cette page reste en cache jusqu’à ce que ses données changent.",
}

// language picks the page text for r: French when Accept-Language starts with "fr", English
// otherwise. Pages must therefore carry "Vary: Accept-Language".
func language(r *http.Request) *messages {
	al := strings.TrimSpace(r.Header.Get("Accept-Language"))
	if len(al) >= 2 && strings.EqualFold(al[:2], "fr") {
		return &french
	}
	return &english
}
