#!/usr/bin/env python3
"""A labelled corpus of French and English business text for the personal-data detectors.

Each line is JSON: {"text": "..."} or, for a message written in several parts, {"texts": [...]},
with "labels": [[start, end, "TYPE"], ...] — UTF-8 byte offsets into the text (into the
concatenation of the parts), exactly what `fabrique policy scan` reports. About half the lines are
near-misses that must give no span at all: versions, order and invoice numbers, dates, amounts,
hashes, identifiers with a wrong check digit, foreign phone numbers.

Values are generated with their check digits computed here (Luhn, ISO 13616 mod 97, the NIR key),
independently of the crate, and written the ways people write and paste them: any case, grouped
by spaces, no-break, narrow no-break or thin spaces, dots or dashes, with zero-width characters or
soft hyphens inside, in full-width digits, split between two parts of a message.

Two splits share the value generators but not the sentences: `test` (the crate's fixture,
crates/policy/tests/fixtures/corpus.jsonl) and `eval` (the held-out corpus of bench/policy/, which
no test reads). Each sentence pool is cut in two, alternate sentences going to each split.

Usage: corpus.py --split test|eval [--seed N] [--lines N] > corpus.jsonl
"""

import argparse
import json
import random
import string

NBSP, NNBSP, THIN = "\u00a0", "\u202f", "\u2009"
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
DASHES = ["-", "\u2010", "\u2011", "\u2013"]


# --- check digits, computed here ---------------------------------------------------------------

def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number):
    return luhn_digit(number[:-1]) == number[-1]


def iban_check(country, bban):
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return "%02d" % (98 - int(digits) % 97)


def nir_key(body13):
    return "%02d" % (97 - int(body13.replace("2A", "19").replace("2B", "18")) % 97)


# --- values -----------------------------------------------------------------------------------

FIRST = ["jean", "marie", "luc", "anne", "sophie", "pierre", "claire", "hugo", "léa", "andré",
         "chloé", "thomas", "nina", "olivier", "emma", "karim", "fatou", "john", "sarah", "mike"]
LAST = ["dupont", "martin", "bernard", "durand", "lefèvre", "moreau", "garcia", "nguyen",
        "petit", "roux", "fontaine", "smith", "brown", "müller", "benali", "diallo"]
DOMAINS = ["exemple.fr", "banque-exemple.fr", "groupe.example.com", "acme.co.uk", "société.fr",
           "mail.example.org", "assurances.example.fr", "cabinet-conseil.eu", "example.de"]
IBAN_BBAN = {  # country: (length, BBAN shape: d digit, A letter, X either)
    "FR": (27, "ddddddddddXXXXXXXXXXXdd"), "DE": (22, "dddddddddddddddddd"),
    "ES": (24, "dddddddddddddddddddd"), "IT": (27, "AddddddddddXXXXXXXXXXXX"),
    "BE": (16, "dddddddddddd"), "NL": (18, "AAAAdddddddddd"), "GB": (22, "AAAAdddddddddddddd"),
    "CH": (21, "dddddXXXXXXXXXXXX"), "LU": (20, "dddXXXXXXXXXXXXX"),
    "PT": (25, "ddddddddddddddddddddd"), "MC": (27, "ddddddddddXXXXXXXXXXXdd"),
    "AT": (20, "dddddddddddddddd"), "IE": (22, "AAAAdddddddddddddd"),
}


class Values:
    def __init__(self, rng):
        self.rng = rng

    def digits(self, n):
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    # Obfuscations applied to a value's characters: one invisible character somewhere inside,
    # or every digit in full width.
    def invisible_inside(self, value):
        at = self.rng.randrange(1, len(value))
        return value[:at] + self.rng.choice(INVISIBLE) + value[at:]

    @staticmethod
    def full_width(value):
        return "".join(chr(ord(c) - 0x30 + 0xFF10) if c.isdigit() else c for c in value)

    def spelled(self, value, allow_full_width=True):
        roll = self.rng.random()
        if roll < 0.10:
            return self.invisible_inside(value)
        if roll < 0.15 and allow_full_width:
            return self.full_width(value)
        return value

    def email(self):
        r = self.rng
        first, last = r.choice(FIRST), r.choice(LAST)
        local = r.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}",
                          f"{first}.{last}{r.randint(1, 99)}", f"{first}+rh", f"{last}.{first}"])
        if r.random() < 0.15:
            local = local.capitalize()
        address = f"{local}@{r.choice(DOMAINS)}"
        roll = r.random()
        if roll < 0.08:
            return address.replace("@", "＠")
        if roll < 0.16:
            return self.invisible_inside(address)
        return address

    def phone(self):
        r = self.rng
        national = "0" + r.choice("123456789") + self.digits(8)
        pairs = [national[i:i + 2] for i in range(0, 10, 2)]
        roll = r.random()
        if roll < 0.45:
            sep = r.choice([" ", " ", ".", "-", NBSP, NNBSP, THIN, "\u2011"])
            value = sep.join(pairs)
        elif roll < 0.55:
            value = national
        elif roll < 0.70:
            value = "+33 " + national[1] + " " + " ".join(pairs[1:])
        elif roll < 0.76:
            value = "+33" + national[1:]
        elif roll < 0.82:
            value = "+33 (0)" + national[1] + " " + " ".join(pairs[1:])
        elif roll < 0.88:
            value = "0033 " + national[1] + " " + " ".join(pairs[1:])
        elif roll < 0.92:
            national = "08" + r.choice("0019") + self.digits(7)
            value = f"{national[0]} {national[1:4]} {national[4:7]} {national[7:]}"
        else:
            value = "+33 6 " + " ".join(pairs[1:]) if r.random() < 0.3 else " ".join(pairs)
        return self.spelled(value)

    def iban(self):
        r = self.rng
        country = r.choice(list(IBAN_BBAN))
        length, shape = IBAN_BBAN[country]
        # Account numbers are digits, now and then a letter.
        bban = "".join(
            r.choice(string.digits) if s == "d" or (s == "X" and r.random() < 0.93)
            else r.choice(string.ascii_uppercase) for s in shape)
        assert len(bban) == length - 4
        solid = country + iban_check(country, bban) + bban
        roll = r.random()
        if roll < 0.40:
            value = " ".join(solid[i:i + 4] for i in range(0, len(solid), 4))
        elif roll < 0.52:
            value = solid
        elif roll < 0.62:
            value = r.choice([NBSP, NNBSP, THIN]).join(solid[i:i + 4] for i in range(0, len(solid), 4))
        elif roll < 0.70:
            value = r.choice(DASHES[:2]).join(solid[i:i + 4] for i in range(0, len(solid), 4))
        elif roll < 0.78:
            value = f"{solid[:2]} {solid[2:4]} " + " ".join(solid[i:i + 4] for i in range(4, len(solid), 4))
        elif roll < 0.86 and country == "FR":
            # The RIB's grouping: bank, branch, account, key.
            value = f"{solid[:4]} {solid[4:9]} {solid[9:14]} {solid[14:25]} {solid[25:]}"
        else:
            value = " ".join(solid[i:i + 4] for i in range(0, len(solid), 4))
        if r.random() < 0.25:
            value = value.lower()
        return self.spelled(value, allow_full_width=False)

    def nir(self):
        r = self.rng
        department = r.choice(["2A", "2B"] + ["%02d" % d for d in range(1, 96) if d != 20])
        body = (r.choice("12") + self.digits(2) + "%02d" % r.randint(1, 12) + department
                + self.digits(3) + self.digits(3))
        solid = body + nir_key(body)
        roll = r.random()
        if roll < 0.45:
            parts = [solid[0], solid[1:3], solid[3:5], solid[5:7], solid[7:10], solid[10:13], solid[13:]]
            value = r.choice([" ", " ", NBSP, "."]).join(parts)
        elif roll < 0.75:
            value = solid
        else:
            value = solid[:13] + " " + solid[13:]
        if r.random() < 0.2:
            value = value.lower()
        return self.spelled(value)

    def siren(self):
        body = self.rng.choice("123456789") + self.digits(7)
        return body + luhn_digit(body)

    def siren_value(self):
        solid = self.siren()
        value = self.rng.choice([solid, f"{solid[:3]} {solid[3:6]} {solid[6:]}",
                                 f"{solid[:3]}{NBSP}{solid[3:6]}{NBSP}{solid[6:]}",
                                 f"{solid[:3]}.{solid[3:6]}.{solid[6:]}"])
        return self.spelled(value)

    def siret_value(self):
        r = self.rng
        if r.random() < 0.05:
            while True:
                nic = self.digits(5)
                if sum(int(d) for d in "356000000" + nic) % 5 == 0:
                    solid = "356000000" + nic
                    break
        else:
            body = self.siren() + self.digits(4)
            solid = body + luhn_digit(body)
        value = r.choice([solid, f"{solid[:3]} {solid[3:6]} {solid[6:9]} {solid[9:]}",
                          f"{solid[:9]} {solid[9:]}",
                          f"{solid[:3]}{NBSP}{solid[3:6]}{NBSP}{solid[6:9]}{NBSP}{solid[9:]}"])
        return self.spelled(value)

    def card_value(self):
        r = self.rng
        prefix, length = r.choice([("4", 16), ("4", 16), ("51", 16), ("53", 16), ("55", 16),
                                   ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("4", 13),
                                   ("62", 16), ("5019", 16)])
        body = prefix + self.digits(length - 1 - len(prefix))
        solid = body + luhn_digit(body)
        if length == 15:
            groups = [solid[:4], solid[4:10], solid[10:]]
        elif length == 13:
            groups = [solid]
        else:
            groups = [solid[i:i + 4] for i in range(0, length, 4)]
        sep = r.choice([" ", " ", "-", "", NBSP, THIN])
        return self.spelled(sep.join(groups))

    def ipv4(self):
        r = self.rng
        first = r.choice([10, 172, 192, 8, 51, 185, 213, 62, 90])
        octets = [first, r.randint(0, 255), r.randint(0, 255), r.randint(1, 254)]
        if first == 192:
            octets[1] = 168
        return ".".join(str(o) for o in octets)

    def ipv6(self):
        r = self.rng
        groups = ["%x" % r.randint(0, 0xFFFF) for _ in range(8)]
        roll = r.random()
        if roll < 0.4:
            return "2001:db8::" + ":".join(groups[:r.randint(1, 3)])
        if roll < 0.6:
            return "fe80::" + ":".join(groups[:4])
        if roll < 0.8:
            return ":".join(groups)
        return "::ffff:" + self.ipv4()


# --- sentences --------------------------------------------------------------------------------
# Each pool lists sentences with {} where the value goes; `split` keeps alternate ones.

POSITIVE = {
    "EMAIL": [
        "Merci d'écrire à {} avant vendredi.", "Contact : {}", "Please reach out to {} for the contract.",
        "Copie à {} et au service juridique.", "Le client a répondu depuis {} hier soir.",
        "Send the signed NDA to {}, thanks.", "Adresse de facturation électronique : {}.",
        "(en copie : {})", "Votre conseiller, joignable à {}, vous rappellera.",
        "From: {}", "Le mail de relance est parti à {} ce matin.", "Reply-to {} only.",
        "Pour toute question, {} reste votre interlocuteur.", "Destinataires : {} ; direction.",
    ],
    "PHONE_FR": [
        "Joignable au {} en semaine.", "Tél. : {}", "Please call me back on {} tomorrow.",
        "Le standard ({}) est fermé le samedi.", "Mon portable : {}, après 18 h.",
        "Numéro du client : {}.", "Appelez le {} pour confirmer le rendez-vous.",
        "Phone: {} (mobile)", "Contactez l'agence au {} ou passez directement.",
        "Le livreur a laissé un message depuis le {}.", "En cas d'urgence : {}",
        "Rappeler Mme Durand au {} au sujet du sinistre.", "Fax {} — ne plus utiliser.",
        "Son numéro, le {}, figure sur le bon de commande.",
    ],
    "IBAN": [
        "Virement sur {} avant le 30.", "IBAN : {}", "Please wire the deposit to {} by Friday.",
        "Le compte {} sera débité à l'échéance.", "Coordonnées bancaires du fournisseur : {}.",
        "Nouveau RIB : {} (à mettre à jour dans l'ERP).", "Account {} has been closed.",
        "Le prélèvement échoue sur le compte {} depuis mars.", "IBAN du bénéficiaire\u00a0: {}",
        "Remboursement sur {}, merci.", "Merci de verser l'acompte sur {}.",
        "Bank details: {} (EUR).", "Compte à créditer : {}", "Le salarié a changé de compte : {}.",
    ],
    "NIR": [
        "NIR du salarié : {}.", "Numéro de sécurité sociale {} à vérifier.",
        "Social security number {} on file.", "L'assuré ({}) a transmis son arrêt de travail.",
        "N° SS : {}", "La mutuelle demande le numéro {} pour l'affiliation.",
        "Immatriculation : {} ; carte Vitale en cours.", "Numéro d'assuré {}, régime général.",
        "Le dossier de l'ayant droit {} est complet.", "Sécu {} — attestation jointe.",
        "Votre numéro de sécurité sociale, {}, figure sur la fiche de paie.",
        "Retraite : numéro {} communiqué à la caisse.",
    ],
    "SIREN": [
        "SIREN {} au RCS de Paris.", "La société, immatriculée sous le numéro SIREN {}, est cliente.",
        "Company registration (SIREN): {}.", "RCS Lyon {}", "Fournisseur : SIREN {} ; TVA à vérifier.",
        "Le SIREN {} correspond à la holding.", "N° SIREN : {}", "Siren de l'entité absorbée : {}.",
        "Immatriculée au RCS de Nanterre sous le n° {}.", "Vérifier le Kbis du SIREN {}.",
        "La filiale (SIREN {}) sera fusionnée.", "SIREN du débiteur : {}",
    ],
    "SIRET": [
        "SIRET {} (siège).", "N° SIRET : {}", "Establishment SIRET {} is registered in Lille.",
        "Le SIRET {} de l'agence de Nantes est fermé.", "Siret du site : {}.",
        "Facturer l'établissement SIRET {}.", "SIRET de l'établissement payeur : {}",
        "Numéro SIRET {} à reporter sur la DSN.", "Le fournisseur a changé de SIRET : {}.",
        "SIRET {}, code APE 6201Z.", "Adresse et SIRET ({}) à jour.", "siret : {}",
    ],
    "CREDIT_CARD": [
        "Carte {} exp. 12/27.", "Payé avec la carte {} hier.", "Card number: {}, CVV withheld.",
        "La carte Visa {} a été refusée.", "Numéro de carte : {}", "Débit sur la CB {} non reconnu.",
        "Please charge card {} for the renewal.", "Carte bancaire {} déclarée volée.",
        "Opposition sur la carte {} faite à 14 h.", "Mastercard {} (corporate).",
        "Le client conteste un paiement par carte {}.", "Carte de l'entreprise : {}",
    ],
    "IPV4": [
        "Le serveur {} ne répond plus.", "Connexion refusée depuis {}.", "Host {} is unreachable.",
        "Ajouter {} à la liste blanche du pare-feu.", "La passerelle est {}.",
        "Adresse IP du poste : {}", "Requests from {} spiked at 3 am.", "Ping {} : timeout.",
        "Le VPN attribue {} au client.", "IP {} bannie pour abus.", "Le DNS pointe vers {}.",
        "Source: {} (NAT)",
    ],
    "IPV6": [
        "Hôte {} joignable.", "Adresse IPv6 : {}", "Traffic from {} was dropped.",
        "Le routeur annonce {}.", "Bloquer {} sur le pare-feu.", "Interface eth0 : {}",
        "Le client se connecte depuis {}.", "IPv6 {} assigned to the VM.",
        "Route par défaut via {}.", "Adresse {} en conflit.",
    ],
}

MIXED = [
    "Client {NAME}, {EMAIL}, {PHONE_FR}, IBAN {IBAN}, SIRET {SIRET}.",
    "Dear team, {NAME} ({EMAIL}) asked to wire the refund to {IBAN}.",
    "Fiche salarié : {NAME}, NIR {NIR}, tél. {PHONE_FR}, mail {EMAIL}.",
    "Fraud alert: card {CREDIT_CARD} used from {IPV4}, owner {EMAIL}.",
    "Fournisseur SIREN {SIREN}, contact {EMAIL}, paiement sur {IBAN}.",
    "Incident : {IPV4} et {IPV6} ont tenté de se connecter au compte de {EMAIL}.",
    "Mme {NAME}, née le 12/03/1985, NIR {NIR}, IBAN {IBAN}.",
    "Résumé de l'appel du {PHONE_FR} : la carte {CREDIT_CARD} est bloquée.",
]

NEAR_MISSES = [
    # Versions and builds.
    "Mise à jour vers la version {VERSION} prévue samedi.", "Please upgrade to release {VERSION}.",
    "Le client tourne encore en v {VERSION}, à migrer.", "Firmware {VERSION} corrige la faille.",
    "Build {VERSION} deployed to staging.", "La version {VERSION} du connecteur est obsolète.",
    "Nous livrons la release {VERSION} demain.", "Version: {VERSION}", "Testé avec {PRERELEASE}.",
    "Upgrade from version {VERSION} failed.",
    # Orders, invoices, parcels, contracts.
    "Commande n° {NUM9} expédiée ce matin.", "Facture {NUM9} réglée le 12.", "Order {NUM16} shipped.",
    "Votre commande {NUM14} est en préparation.", "Invoice #{NUM9} is overdue.",
    "Colis {NUM14} livré en point relais.", "Numéro de suivi {NUM14}.", "Ticket {NUM9} résolu.",
    "Contrat n° {NUM9} renouvelé.", "Client n° {NUM9} : relance envoyée.", "Devis {NUM9} accepté.",
    "Bordereau {NUM14} signé.", "Customer {NUM9} asked for a refund.", "Facture n° FA-2024-{NUM5}.",
    "Commande CMD-{NUM5}-B annulée.", "Dossier {NUM9} clos.", "Lot {NUM9} rappelé par le fabricant.",
    "Numéro de série {NUM14} sous garantie.", "Commande {NUM16} remboursée.",
    "Réf. {NUM9} à rappeler dans votre réponse.", "Transaction {NUM16} refusée par la banque.",
    "Référence {NUM14} du virement.", "Our ref: {NUM9}.", "Transaction n° {NUM16} en attente.",
    "Ref {NUM9} — see attached.",
    # Dates, times, amounts.
    "Échéance le {DATE}.", "Réunion le {DATE} à 14:30:00.", "Meeting on {DATE} at 09:15.",
    "Montant : {AMOUNT} TTC.", "Total due: {AMOUNT}.", "Le budget passe de {AMOUNT} à {AMOUNT}.",
    "Capital social de {AMOUNT}.", "Chiffre d'affaires {YEAR} : {AMOUNT}.",
    # Hashes and identifiers.
    "Commit {SHA} merged into main.", "Empreinte SHA-256 : {SHA256}.", "Request id {UUID}.",
    "Le fichier {SHA}.zip est corrompu.", "Clé de l'objet : {UUID}", "Checksum {SHA256}",
    # Wrong check digits, foreign numbers, malformed addresses.
    "Virement sur {BAD_IBAN} refusé.", "Carte {BAD_CARD} invalide.", "SIRET {BAD_SIRET} inconnu.",
    "NIR {BAD_NIR} erroné.", "Call our London office on +44 20 7946 {NUM4}.",
    "US support: +1 415 555 {NUM4}.", "Adresse {BAD_IP} invalide.", "Numéro incomplet : 06 12 34 56.",
    "Réseau de test 10.0.0.0/33 refusé.", "Heure serveur 12:30:45.", "MAC 00:1a:2b:3c:4d:5e.",
    "Poste {NUM4} ou accueil.", "Le code promo ETE{NUM4} expire.", "Référence article REF-{NUM5}-{NUM4}.",
    "Article L. 225-37-4 du code de commerce.", "Décret n° 2019-{NUM4} du 5 mars.",
    "Merci @jean pour le suivi.", "Écrire à jean@localhost demain.",
]


def pick_split(pool, split):
    return pool[0::2] if split == "test" else pool[1::2]


class Corpus:
    def __init__(self, split, seed):
        self.rng = random.Random(seed)
        self.values = Values(self.rng)
        self.split = split
        self.positive = {k: pick_split(v, split) for k, v in POSITIVE.items()}
        self.mixed = pick_split(MIXED, split)
        self.near = pick_split(NEAR_MISSES, split)

    def value(self, kind):
        v = self.values
        return {
            "EMAIL": v.email, "PHONE_FR": v.phone, "IBAN": v.iban, "NIR": v.nir,
            "SIREN": v.siren_value, "SIRET": v.siret_value, "CREDIT_CARD": v.card_value,
            "IPV4": v.ipv4, "IPV6": v.ipv6,
        }[kind]()

    def filler(self, name):
        r, v = self.rng, self.values
        if name == "NAME":
            return f"{r.choice(FIRST).capitalize()} {r.choice(LAST).capitalize()}"
        if name == "VERSION":
            return ".".join(str(r.randint(0, 20)) for _ in range(4))
        if name == "PRERELEASE":
            return ".".join(str(r.randint(1, 20)) for _ in range(4)) + r.choice(["-beta", "-rc1", "+build7"])
        if name.startswith("NUM"):
            n = int(name[3:])
            return r.choice("123456789") + v.digits(n - 1)
        if name == "DATE":
            d, m, y = r.randint(1, 28), r.randint(1, 12), r.randint(2019, 2027)
            return r.choice([f"{d:02}/{m:02}/{y}", f"{y}-{m:02}-{d:02}", f"{d:02}.{m:02}.{y}", f"{d} mars {y}"])
        if name == "YEAR":
            return str(r.randint(2019, 2026))
        if name == "AMOUNT":
            units = r.randint(1000, 999_999_999)
            grouped = f"{units:,}".replace(",", r.choice([" ", NBSP, NNBSP, "."]))
            return r.choice([f"{grouped},{r.randint(0, 99):02} €", f"{grouped} €", f"{grouped} EUR",
                             f"${units:,}.{r.randint(0, 99):02}", f"{grouped} euros"])
        if name == "SHA":
            return "".join(r.choice("0123456789abcdef") for _ in range(40))
        if name == "SHA256":
            return "".join(r.choice("0123456789abcdef") for _ in range(64))
        if name == "UUID":
            h = "".join(r.choice("0123456789abcdef") for _ in range(32))
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        if name == "BAD_IBAN":
            good = v.iban().replace(" ", "")
            last = good[-1]
            return good[:-1] + (str((int(last) + 1) % 10) if last.isdigit() else "0")
        if name == "BAD_CARD":
            body = "4" + v.digits(14)
            return body + str((int(luhn_digit(body)) + 1) % 10)
        if name == "BAD_SIRET":
            body = v.siren() + v.digits(4)
            return body + str((int(luhn_digit(body)) + 3) % 10)
        if name == "BAD_NIR":
            body = r.choice("12") + v.digits(2) + "%02d" % r.randint(1, 12) + "75" + v.digits(6)
            key = int(nir_key(body))
            return body + "%02d" % (key % 97 + 1)
        if name == "BAD_IP":
            return r.choice(["999.1.2.3", "256.10.0.1", "10.0.0", "1.2.3.4.5", "01.02.03.04"])
        raise KeyError(name)

    def render(self, template, fields):
        """The text of `template` with its fields, and the labels of the fields that are values."""
        out, labels, at, rest = [], [], 0, template
        while "{" in rest:
            before, _, tail = rest.partition("{")
            name, _, rest = tail.partition("}")
            out.append(before)
            at += len(before.encode())
            kind = fields.pop(0) if name == "" else name
            if kind in POSITIVE:
                value = self.value(kind)
                labels.append([at, at + len(value.encode()), kind])
            else:
                value = self.filler(kind)
            out.append(value)
            at += len(value.encode())
        out.append(rest)
        return "".join(out), labels

    def positive_line(self):
        kind = self.rng.choice(list(POSITIVE))
        text, labels = self.render(self.rng.choice(self.positive[kind]), [kind])
        return {"text": text, "labels": labels}

    def mixed_line(self):
        text, labels = self.render(self.rng.choice(self.mixed), [])
        return {"text": text, "labels": labels}

    def near_miss_line(self):
        text, labels = self.render(self.rng.choice(self.near), [])
        assert not labels
        return {"text": text, "labels": []}

    def split_line(self):
        """A value split between two parts of a message, where the model reads them as one."""
        line = self.positive_line()
        text, (start, end, kind) = line["text"], line["labels"][0]
        raw = text.encode()
        cut = self.rng.randrange(start + 1, end)
        while cut < end and (raw[cut] & 0xC0) == 0x80:
            cut += 1
        if cut >= end:
            return line
        return {"texts": [raw[:cut].decode(), raw[cut:].decode()], "labels": line["labels"]}

    def line(self):
        roll = self.rng.random()
        if roll < 0.42:
            return self.positive_line()
        if roll < 0.50:
            return self.mixed_line()
        if roll < 0.55:
            return self.split_line()
        return self.near_miss_line()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["test", "eval"], required=True)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--lines", type=int, default=4000)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else {"test": 1, "eval": 2}[args.split]
    corpus = Corpus(args.split, seed)
    for _ in range(args.lines):
        print(json.dumps(corpus.line(), ensure_ascii=False))


if __name__ == "__main__":
    main()
