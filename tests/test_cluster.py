"""Tests for bot.ingest.cluster: story matching across publishers and languages.

How an article becomes terms is tested in tests/test_cluster_terms.py.

The ground truth below was built by reading every entry of the corpus's January 2017 newsroom
feeds (and the duplicate-story article pages of MANIFEST section 2a) by hand. A *group* is one
news event in the TDT sense: a seminal event plus directly related follow-ups inside the time
window. ``core`` members report the event itself and must end up in one story; ``loose``
members are follow-ups, sidebars or analyses that may join it or not. Every other entry is
labelled implicitly: it tells its own story, and merging it with anything is a false merge.
Groups with no core are running stories (a cold wave, CES) whose items are distinct events
that could defensibly share a brief: merges inside them are tolerated, not required.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingest.clean import clean_article, html_to_text
from bot.ingest.cluster import DEFAULT_THRESHOLD, DEFAULT_WINDOW, StoryMatcher
from bot.ingest.parse import parse_feed
from bot.ingest.prepare import clean_title

# --- ground truth -----------------------------------------------------------------------------

NYT = "nytimes-homepage-en-2017-01.rss"
REUTERS = "reuters-topnews-en-2017-01.rss"
CTV = "ctvnews-topstories-en-2017-01.rss"
LEMONDE = "lemonde-une-fr-2017-01-mojibake.rss"
SPIEGEL = "spiegel-de-2017-01-mojibake.rss"
MINUTOS = "20minutos-es-2017-01-mojibake.rdf"
FIGARO = "lefigaro-fr-2017-01-mojibake.rss"
INDIAN = "indianexpress-en-2017.rss"
JAPAN = "japantimes-en-2017.rss"
DAILYMAIL = "dailymail-worldnews-en-2017-01-empty.rss"
MOSCOW = "moscowtimes-en-2017-01.rss"
YANDEX = "yandex-news-moscow-ru-2017-01-mojibake.rss"
ORF = "orf-at-de-2017-01.rdf"
ROMA = "romatoday-it-2017-01-mojibake.rss"
VERGE = "theverge-en-2017-01.atom"
# MANIFEST dates this Mirror feed to August 2016 (its lastBuildDate), but its items are from
# 6-7 January 2017: the same day as the others, and they tell the same stories.
MIRROR = "mirror-en-2016-08.rss"

# Declared by the feed where it declares one; Le Monde and Yandex declare none (the pipeline's
# detector would say fr / ru).
FEEDS = {
    NYT: "en", REUTERS: "en", CTV: "en", LEMONDE: "fr", SPIEGEL: "de", MINUTOS: "es",
    FIGARO: "fr", INDIAN: "en", JAPAN: "en", DAILYMAIL: "en", MOSCOW: "en", YANDEX: "ru",
    ORF: "de", ROMA: "it", VERGE: "en", MIRROR: "en",
}  # fmt: skip
# The Japan Times feed dates nothing; it was captured with the other 2017-01-07 feeds, so its
# entries are ingested "now" = that afternoon (the matcher's rule for undated articles).
JAPAN_FETCHED = datetime(2017, 1, 7, 15, 0, tzinfo=UTC)

Entry = tuple[str, str]  # (feed file, title prefix)


@dataclass(frozen=True)
class Group:
    why: str
    core: tuple[Entry, ...] = ()
    loose: tuple[Entry, ...] = ()
    related: tuple[str, ...] = ()  # other groups it may merge with (directly related events)


GROUPS: dict[str, Group] = {
    "fort_lauderdale_shooting": Group(
        "Airport gunman kills five in Fort Lauderdale on 6 Jan: first reports, the suspect "
        "(Iraq veteran, mental health), the airport reopening; fr and de reports included.",
        core=(
            (NYT, "Florida Airport Assailant May Have Heard Voices"),
            (NYT, "Scenes From Fort Lauderdale Airport Shooting"),
            (CTV, "Florida shooting suspect struggled with mental health"),
            (CTV, "Suspected gunman picked off passengers"),
            (CTV, "Florida attack updates: Fort Lauderdale airport reopens"),
            (LEMONDE, "Floride : ce que l’on sait de la fusillade"),
            (SPIEGEL, "Fünf Tote im Flughafen: Täter von Fort Lauderdale"),
            (INDIAN, "Investigators search for motive in Florida airport shooting"),
            (INDIAN, "Fort Lauderdale Airport shooting suspect had mental health"),
            (INDIAN, "Thousands stranded at Fort Lauderdale airport"),
            (INDIAN, "US veteran guns down 5 at Fort Lauderdale airport"),
            (INDIAN, "US shooting: Iraq war veteran accused of killing five"),
            (INDIAN, "At least five dead in Fort Lauderdale airport shooting"),
            (JAPAN, "U.S. veteran held after Florida airport shooting"),
            (MIRROR, "Was Fort Lauderdale shooting air rage?"),
            (MIRROR, "Fort Lauderdale Airport shooting suspect Esteban Santiago-Ruiz 'told"),
            (MIRROR, "Fort Lauderdale Airport shooting suspect named as"),
            (MIRROR, "First picture of Fort Lauderdale Airport shooting suspect"),
            (MIRROR, "Florida airport shooting: Fears of 'co-ordinated attack'"),
            (MIRROR, "Florida airport shooting: Five dead and eight others injured"),
        ),
        loose=(
            (INDIAN, "Florida airport shooting highlights limits of US airport security"),
            (INDIAN, "Fort Lauderdale airport shooting: A look at other deadly attacks"),
        ),
    ),
    "russia_hacking_report": Group(
        "The declassified US intelligence report (6 Jan): Putin ordered a campaign to help "
        "Trump. Loose: analyses, reactions and the days-earlier leaks and testimony.",
        core=(
            (NYT, "Putin Led a Complex Cyberattack Scheme"),
            (NYT, "What Intelligence Agencies Concluded About the Russian Attack"),
            (CTV, "Report on election hacking says Russia plans to do more"),
            (INDIAN, "Report on US election hacking says Russia plans to do more"),
            (INDIAN, "US intelligence report says Putin directed cyber campaign"),
            (JAPAN, "Putin ordered effort to help Trump, hurt Clinton"),
            (LEMONDE, "Piratage imputé à la Russie"),
            (SPIEGEL, "US-Geheimdienstbericht zu Putin"),
            (MINUTOS, "EEUU dice que Putin ordenó ciberataques"),
            (MIRROR, "Vladimir Putin 'directed cyber hacking campaign"),
        ),
        loose=(
            (NYT, "News Analysis: Russian Intervention in American Election"),
            (NYT, "Trump Finds That Attack-Dog Strategy Has Its Limits"),
            (MINUTOS, "Obama le recuerda a Trump que Putin"),
            (INDIAN, "Trump calls Russian hacking controversy"),
            (INDIAN, "Donald Trump’s aides say president-elect open to Russian hack"),
            (INDIAN, "Mike Pence says Donald Trump will take aggressive action"),
            (INDIAN, "Russia interfered in Presidential elections: US intelligence chief"),
            (INDIAN, "US obtained evidence after election that Russia leaked emails"),
            (INDIAN, "Russian officials celebrated President-elect Donald Trumps win"),
            (MIRROR, "British spies alerted America to Russia's cyber attack"),
        ),
        related=("election_infrastructure",),
    ),
    "election_infrastructure": Group(
        "DHS designates election systems critical infrastructure (6 Jan), a response to the "
        "hacking: directly related to the report, so merging with it is tolerated.",
        core=(
            (INDIAN, "US designates election infrastructure as ‘critical’"),
            (INDIAN, "US raises protection of electoral computer systems"),
        ),
    ),
    "mexico_wall": Group(
        "Trump says Mexico will repay the border wall (6 Jan); loose: the Congress-funding "
        "report of the day before that prompted it.",
        core=(
            (NYT, "Trump Insists Mexico Will Pay for Wall"),
            (REUTERS, "Trump says Mexico would repay U.S. funds"),
            (INDIAN, "Donald Trump on border wall: Mexico will pay us back"),
        ),
        loose=((INDIAN, "Donald Trump asking Congress, not Mexico, to pay"),),
    ),
    "ivory_coast_mutiny": Group(
        "Soldiers' mutiny spreading from Bouaké to Abidjan (6-7 Jan).",
        core=(
            (REUTERS, "Shooting breaks out at army camp in Ivory Coast"),
            (REUTERS, "Unrest hits Ivory Coast's main city"),
            (LEMONDE, "Côte d’Ivoire : les discussions entre gouvernement et soldats"),
            (INDIAN, "Ivory Coast defence minister in Bouake"),
            (INDIAN, "Fresh gunfire in Ivory Coast"),
            (INDIAN, "Heavy gunfire heard at military camps in Ivory Coast"),
            (INDIAN, "Ex-soldiers seize weapons, take up positions in Ivory Coast"),
        ),
    ),
    "ghana_inauguration": Group(
        "Nana Akufo-Addo sworn in as Ghana's president (7 Jan), en and fr.",
        core=(
            (REUTERS, "Ghana's new President Akufo-Addo"),
            (LEMONDE, "Le nouveau président ghanéen"),
        ),
    ),
    "mosul_tigris": Group(
        "Iraqi forces reach the Tigris in Mosul (7 Jan).",
        core=(
            (REUTERS, "Iraqi forces close in on Tigris"),
            (INDIAN, "Iraq forces near Tigris River"),
        ),
    ),
    "bashiqa_deal": Group(
        "Turkish PM Yildirim's Baghdad visit and the Bashiqa withdrawal deal it produced.",
        core=(
            (REUTERS, "Iraq says deal reached over withdrawal of Turkish forces"),
            (INDIAN, "Turkish PM Binali Yildirim visits Iraq"),
        ),
    ),
    "may_donor": Group(
        "A Conservative donor threatens to cut funds over the single market (same wire story).",
        core=((REUTERS, "Donor to PM May's party"), (INDIAN, "Donor to PM Theresa May’s party")),
    ),
    "azaz_bombing": Group(
        "Car/truck bomb in Azaz (Asas), northern Syria, 7 Jan: fr, de and en reports.",
        core=(
            (LEMONDE, "Syrie : un attentat à la voiture piégée"),
            (SPIEGEL, "Syrien: Autobombe tötet"),
            (INDIAN, "Death toll rises to 43 in blast in Syrian town"),
        ),
    ),
    "wadi_barada": Group(
        "Battle for Damascus's water source at Wadi Barada (5-7 Jan).",
        core=(
            (REUTERS, "Syrian rebels deny report of ceasefire near Damascus"),
            (INDIAN, "Syrian army, allies press assault to secure Damascus water"),
        ),
        loose=(
            (INDIAN, "UN slams ‘war crime’ as 5.5 million in Damascus"),
            (INDIAN, "Clashes kill 9 near Damascus despite truce"),
        ),
    ),
    "tsai_trip": Group(
        "Taiwan's president leaves for Central America via the US (7 Jan); AP copy in two "
        "feeds, Indian Express and Le Monde versions.",
        core=(
            (CTV, "Taiwan leader heads to Americas"),
            (JAPAN, "Taiwan leader heads to Americas"),
            (INDIAN, "Taiwan president heads to US as Beijing watches"),
            (LEMONDE, "L’escale américaine de la présidente taïwanaise"),
        ),
    ),
    "chicago_torture_video": Group(
        "Chicago Facebook Live torture case: hate-crime charges, bail hearing, police account.",
        core=(
            (NYT, "Hate Crime Charges Brought in Chicago Torture Case"),
            (INDIAN, "Chicago: Four ordered held without bail"),
            (INDIAN, "Beating on video began after friendly encounter"),
            (INDIAN, "US: Hate-crime charges filed in attack on mentally disabled man"),
            (JAPAN, "Police say Chicago beating caught on video"),
        ),
        loose=((NYT, "Beating of Disabled Teenager Highlights a Crime"),),
    ),
    "turkey_purge": Group(
        "Turkey dismisses thousands more civil servants by decree (7 Jan).",
        core=(
            (LEMONDE, "Turquie : nouvelle vague de purges"),
            (INDIAN, "Turkey dismisses more civil servants"),
        ),
        loose=((NYT, "In Turkey’s Unrest, Some See an Extreme Version"),),
    ),
    "jobs_report": Group(
        "December 2016 jobs report, Obama's last (6 Jan).",
        core=(
            (NYT, "Recovery Finally Yields Big Gains"),
            (INDIAN, "Obama’s final jobs report"),
        ),
        loose=((NYT, "Economic Legacy: How Obama’s Jobs Record Stacks Up"),),
    ),
    "tilikum": Group(
        "SeaWorld orca Tilikum dies (6 Jan).",
        core=((NYT, "Tilikum, the Killer Whale"), (INDIAN, "Tilikum, ‘Blackfish’ orca")),
    ),
    "ambassadors_quit": Group(
        "Obama-appointed ambassadors told to quit by Inauguration Day.",
        core=(
            (INDIAN, "Donald Trump asks US ambassadors appointed by Barack Obama"),
            (INDIAN, "US envoys appointed by Barack Obama asked to quit"),
        ),
        loose=((INDIAN, "Richard Verma to quit as US envoy"),),
    ),
    "russia_syria_carrier": Group(
        "Russia withdraws its aircraft carrier group from Syria (6 Jan).",
        core=(
            (INDIAN, "Russia cuts forces in Syria, begins withdrawing"),
            (JAPAN, "Russia said scaling back its Syria military presence"),
        ),
    ),
    "larsen_iceberg": Group(
        "Larsen C ice shelf about to calve a giant iceberg (6 Jan).",
        core=(
            (INDIAN, "Vast iceberg poised to crack off Antarctica"),
            (JAPAN, "Massive Antarctic ice block set to break off"),
        ),
    ),
    "comfort_women_statue": Group(
        "Japan recalls its ambassador over the Busan statue (6 Jan).",
        core=(
            (INDIAN, "Japan recalls envoy to South Korea over comfort-woman"),
            (JAPAN, "Japan recalls envoys over new ‘comfort women’ statue"),
        ),
    ),
    "michelle_obama_farewell": Group(
        "Michelle Obama's final speech as first lady (6 Jan).",
        core=(
            (INDIAN, "Our diversity is not a threat to who we are"),
            (INDIAN, "Michelle Obama praises diversity"),
        ),
    ),
    "guy_philippe_arrest": Group(
        "Haitian ex-rebel leader Guy Philippe arrested and charged in the US (5-7 Jan).",
        core=(
            (INDIAN, "Haitian senator-elect and leader of 2004"),
            (INDIAN, "US charges ex-Haiti coup leader"),
            (INDIAN, "Former Haiti rebel leader wanted in US arrested"),
        ),
    ),
    "israel_un_funding": Group(
        "Israel withholds $6m from the UN over the settlements resolution. Loose: a Japan "
        "Times editorial on Israel's reaction to that resolution (found by the matcher).",
        core=((INDIAN, "Israel cuts $6 million"), (INDIAN, "Israel halts $6 million")),
        loose=((JAPAN, "Israel throws a U.N. tantrum"),),
    ),
    "sindh_conversion_bill": Group(
        "Sindh governor returns the forced-conversion bill (7 Jan).",
        core=(
            (INDIAN, "Sindh Governor returns Minorities Bill"),
            (INDIAN, "Pakistan: Sindh Governor rejects to sanction"),
        ),
    ),
    "raheel_sharif_coalition": Group(
        "Ex-army chief Raheel Sharif to lead the Saudi-led coalition.",
        core=(
            (INDIAN, "Pakistan’s former army chief joins Saudi-led"),
            (INDIAN, "Pakistan’s former General Raheel Sharif appointed"),
        ),
    ),
    "un_sex_abuse": Group(
        "Guterres's task force on peacekeeper sexual abuse, and the Indian diplomat on it.",
        core=((INDIAN, "UN Secretary-General Antonio Guterres seeks radical"),),
        loose=((INDIAN, "Top Indian diplomat in UN panel to tackle sexual abuse"),),
    ),
    "netanyahu_questioned": Group(
        "Police question Netanyahu a second time in the graft probe (5 Jan).",
        core=(
            (INDIAN, "Police again quiz Israeli PM Benjamin Netanyahu"),
            (INDIAN, "Benjamin Netanyahu questioned for second time"),
        ),
    ),
    "guantanamo_saudi": Group(
        "Four Guantanamo detainees transferred to Saudi Arabia (5 Jan).",
        core=(
            (INDIAN, "US sends four held at Guantanamo"),
            (INDIAN, "Four Yemenis freed from Guantanamo"),
        ),
        loose=((INDIAN, "More Guantanamo releases likely"),),
    ),
    "hamza_bin_laden": Group(
        "US designates Hamza bin Laden a global terrorist (5 Jan).",
        core=(
            (INDIAN, "US imposes terrorism-related sanctions against Osama"),
            (INDIAN, "US designates Osama’s son Hamza bin Laden"),
        ),
    ),
    "may_to_visit_trump": Group(
        "Theresa May to visit Trump in the spring (5 Jan).",
        core=(
            (INDIAN, "Theresa May to visit Donald Trump soon"),
            (INDIAN, "British Prime Minister Theresa May to visit"),
        ),
    ),
    "mexico_gas_protests": Group(
        "Protests and looting over Mexico's gasoline price rise (4-5 Jan).",
        core=(
            (INDIAN, "Unrest over Mexico gasoline price hike"),
            (INDIAN, "Mexican president defends gas price hike"),
        ),
    ),
    "intelligence_revamp_denial": Group(
        "Trump's team denies planning to overhaul the intelligence agencies (5 Jan).",
        core=(
            (INDIAN, "US: Donald Trump team denies alleged reforms"),
            (INDIAN, "Trump not planning intelligence agency revamp"),
        ),
    ),
    "bajwa_india": Group(
        "Pakistan's army chief Bajwa on India's 'surgical strikes' (5 Jan).",
        core=(
            (INDIAN, "Pakistan’s new army chief rejects India’s claim"),
            (INDIAN, "Pakistan fully geared to respond"),
        ),
    ),
    "dea_china": Group(
        "DEA steps up its presence in China against synthetic opioids.",
        core=((INDIAN, "America’s DEA opens shop in China"), (INDIAN, "Top DEA official to visit")),
    ),
    "dan_coats": Group(
        "Trump picks Dan Coats as intelligence director (5-7 Jan), en and es.",
        core=(
            (INDIAN, "Donald Trump selects former Senator Dan Coats"),
            (MINUTOS, "Dan Coats, el elegido por Trump"),
        ),
    ),
    "real_madrid_granada": Group(
        "Real Madrid 5-0 Granada equals the 39-match unbeaten record (7 Jan), fr and es.",
        core=((LEMONDE, "Football : Zidane égale le record"), (MINUTOS, "El Real Madrid pasa")),
    ),
    "congress_certifies": Group(
        "Congress certifies the electoral vote (6 Jan).",
        core=(
            (INDIAN, "Indian-American Congresswoman fails to stop final phase"),
            (INDIAN, "US Congress certifies Donald Trump presidential election"),
        ),
        loose=((INDIAN, "A traditional end to an unconventional US presidential"),),
    ),
    "indian_point": Group(
        "Indian Point nuclear plant to close by 2021 (6 Jan).",
        core=(
            (INDIAN, "Aging New York nuclear plant to close"),
            (VERGE, "New York City’s closest"),
        ),
    ),
    "moscow_hotel_fire": Group(
        "Fatal hotel fire on Yaroslavskoye highway, Moscow (7 Jan). Not the bomb-scare "
        "evacuation of another Moscow hotel the same morning.",
        core=(
            (YANDEX, "СК возбудил дело по факту пожара"),
            (YANDEX, "Число жертв пожара в гостинице"),
            (YANDEX, "Пожар в гостинице на северо-востоке"),
        ),
    ),
    "lotteria_italia": Group(
        "Lotteria Italia draw of 6 Jan: winning tickets.",
        core=((ROMA, "Lotteria Italia 2017, biglietti"), (ROMA, "Lotteria Italia 2016 2017")),
    ),
    "rebajas": Group(
        "Winter sales start in Spain (7 Jan).",
        core=((MINUTOS, "Las rebajas animarán el comercio"), (MINUTOS, "Este sábado arrancan")),
    ),
    "givenchy_giacometti": Group(
        "Givenchy's Giacometti collection to Christie's (the interview is listed twice). Not "
        "Sotheby's Giacometti show, a different sale.",
        core=(
            (FIGARO, "Les Giacometti d'Hubert de Givenchy"),
            (FIGARO, "Hubert de Givenchy et Diego Giacometti"),
        ),
    ),
    "tpp_exit": Group(
        "Trump signs the TPP withdrawal (23 Jan), three ORF items.",
        core=(
            (ORF, "Erlass unterzeichnet: Trump besiegelt Ausstieg"),
            (ORF, "USA steigen aus Freihandelsabkommen TPP aus"),
            (ORF, "Trump will NAFTA-Neuverhandlung"),
        ),
        loose=((ORF, "Studiodiskussion über Freihandelsabkommen"),),
    ),
    "rigopiano_avalanche": Group(
        "Avalanche-buried hotel at Rigopiano/Gran Sasso: the manager's call, puppies rescued.",
        core=((ORF, "Gran-Sasso-Unglück"), (ORF, "Italien: Drei Welpen aus verschüttetem Hotel")),
    ),
    # Running stories: distinct items a brief could defensibly group; merges tolerated.
    "moscow_cold_wave": Group(
        "Record Christmas frost in Moscow: alerts, casualties, rainbow, parade, buses.",
        loose=(
            (YANDEX, "В Москве из-за сильных морозов"),
            (YANDEX, "Из-за морозов над Москвой"),
            (YANDEX, "Морозы не повлияют"),
            (YANDEX, "В Москве 62 человека пострадали"),
            (YANDEX, "Минувшая рождественская ночь"),
            (YANDEX, "Лютый мороз"),
        ),
    ),
    "rome_cold_wave": Group(
        "Frost in Rome: shelters, zoo animals, frozen fountains.",
        loose=(
            (ROMA, "Freddo a Roma"),
            (ROMA, "Bioparco: contro il gelo"),
            (ROMA, "Roma sotto zero"),
        ),
    ),
    "broken_back_session": Group(
        "Broken Back's Figaro live session (four videos and the article).",
        loose=(
            (FIGARO, 'Broken Back - "Excuses"'),
            (FIGARO, 'Broken Back - "Halcyon Birds"'),
            (FIGARO, 'Broken Back - "Gangsta\'s Paradise"'),
            (FIGARO, "Broken Back fait son"),
            (FIGARO, "La recette magique de Broken Back"),
        ),
    ),
    "pennac_malaussene": Group(
        "Pennac's new Malaussène novel: review and debate.",
        loose=((FIGARO, "Daniel Pennac ressuscite"), (FIGARO, "Le Clash Culture : faut-il lire")),
    ),
    "charlie_hebdo_anniversary": Group(
        "Second anniversary of the Charlie Hebdo attack: four Figaro pieces.",
        loose=(
            (FIGARO, "«En écrivant j'ai eu le sentiment"),
            (FIGARO, "«Les dessinateurs de presse paient"),
            (FIGARO, "Deux ans après l'attentat contre Charlie Hebdo"),
            (FIGARO, "Charlie Hebdo : la veuve de Tignous"),
        ),
    ),
    "ces_2017": Group(
        "Coverage from CES 2017 in Las Vegas (different products, one show).",
        loose=(
            (LEMONDE, "CES 2017, la French touch"),
            (SPIEGEL, "CES 2017 im Video"),
            (VERGE, "The Verge Awards at CES 2017"),
            (VERGE, "Watch Nick Offerman react"),
            (VERGE, "Watch episode 3 of The Vergecast"),
            (VERGE, "This is the new Hulu experience"),
            (VERGE, "I played Battlefield on Razer"),
        ),
    ),
    "nishikori_brisbane": Group(
        "Nishikori's run at Brisbane (semifinal, final).",
        loose=((JAPAN, "Nishikori makes Brisbane final"), (JAPAN, "Nishikori rolls into Brisbane")),
    ),
    "matsuyama_kapalua": Group(
        "Matsuyama at the Tournament of Champions (two rounds).",
        loose=((JAPAN, "Matsuyama three shots back"), (JAPAN, "Matsuyama starts strong")),
    ),
    "nfl_wild_card": Group(
        "NFL wild-card weekend previews.",
        loose=(
            (NYT, "N.F.L. Wild-Card Matchups"),
            (NYT, "Raiders vs. Texans"),
            (JAPAN, "Wild-card games kick off playoffs"),
        ),
    ),
    "trump_vs_firms_in_mexico": Group(
        "Trump's threats to carmakers building in Mexico and the reactions (Toyota tweet).",
        loose=(
            (INDIAN, "Toyota target of Donald Trump’s latest Twitter"),
            (JAPAN, "‘Trump shock’ after Toyota tweet"),
            (JAPAN, "Asahi Kasei might skip Mexico"),
            (INDIAN, "Mexico rejects ‘threats’ against foreign firms"),
        ),
    ),
    "berlin_attack_investigation": Group(
        "Investigation of the Berlin Christmas market attacker's contacts and gun.",
        loose=(
            (REUTERS, "Berlin truck attacker may have got gun"),
            (INDIAN, "Germany arrests Tunisian who dined with Berlin"),
        ),
    ),
    "germany_polls": Group(
        "German polls after the Berlin attack (one survey, two angles).",
        loose=(
            (INDIAN, "Most Germans feel safe despite Berlin attack"),
            (INDIAN, "Angela Merkel’s"),
        ),
    ),
    "nimrud": Group(
        "Nimrud after ISIS: AP feature and its Agatha Christie sidebar.",
        loose=((INDIAN, "A 3,000-year-old Iraqi city"), (INDIAN, "Crime novelist Agatha Christie")),
    ),
    "warmest_year": Group(
        "2016 the warmest year on record (Copernicus, 5 Jan).",
        loose=((JAPAN, "World heat shatters records"), (INDIAN, "2016 may be warmest year")),
    ),
    "nepal_protests": Group(
        "Opposition protests against Prachanda's government (6 Jan).",
        loose=(
            (INDIAN, "Nepal: Opposition demands Prachanda-led"),
            (INDIAN, "Fresh protests in Nepal"),
        ),
    ),
    "istanbul_nightclub_hunt": Group(
        "Hunt for the Istanbul nightclub gunman (5 Jan).",
        loose=((INDIAN, "Two killed in new Turkey attack"), (INDIAN, "Turkish anti-terror police")),
    ),
    "bird_flu_ducks": Group(
        "Duck culling in south-west France against bird flu (5-7 Jan), en and fr.",
        loose=((INDIAN, "French authorities start culling ducks"), (LEMONDE, "Dans le Gers")),
    ),
    "china_clean_energy": Group(
        "China's clean-energy lead as Trump arrives.",
        loose=(
            (INDIAN, "China takes global lead in clean energy"),
            (INDIAN, "2017: Climate focus"),
        ),
    ),
    "mh370_search": Group(
        "The search for MH370 winding down.",
        loose=((INDIAN, "Malaysia says search for missing MH370"), (INDIAN, "Underwater locator")),
    ),
    "chibok_girls": Group(
        "Freed Chibok girls (rescue, then a feature on them).",
        loose=((INDIAN, "Free from Boko Haram"), (INDIAN, "Nigerian army says it has rescued")),
    ),
    "lavrov_spies": Group(
        "Lavrov's cross-dressing US spies claim (17-18 Jan).",
        loose=((MOSCOW, "Spies in Wigs"), (MOSCOW, "From Russia With Octopussy")),
    ),
    "trump_dossier": Group(
        "The unverified Trump dossier (11-12 Jan) and comment on it.",
        loose=(
            (MOSCOW, "Trump Backed by Kremlin for 'Years,'"),
            (MOSCOW, "Golden Skepticism"),
            (MOSCOW, "Hacked Off: The Cyber Scandal"),
            (MOSCOW, "You Thought This Was Rock Bottom"),
        ),
    ),
    "russia_in_syria_mt": Group(
        "Russia's posture in Syria after the carrier's return (13 Jan).",
        loose=((MOSCOW, "The Voyage Home"), (MOSCOW, "Russian Troops Being Briefed")),
    ),
    "syria_talks_astana": Group(
        "Syria peace talks in Astana and the Geneva follow-up (23 Jan).",
        loose=((ORF, "Syrien-Konferenz in Astana"), (ORF, "UNO-Vermittler hofft")),
    ),
}


# --- corpus loading and replay ----------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    feed: str
    title: str
    text: str
    published: datetime | None
    language: str

    @property
    def moment(self) -> datetime:
        return self.published or JAPAN_FETCHED


def load_feeds(corpus_dir: Path) -> list[Article]:
    """Every entry of the January 2017 feeds, cleaned as the pipeline cleans them."""
    articles = []
    for name, language in FEEDS.items():
        parsed = parse_feed(
            (corpus_dir / "feeds" / name).read_bytes(),
            url="http://example.com/",
            content_type=None,
            now=datetime(2017, 2, 1, tzinfo=UTC),
        )
        for entry in parsed.entries:
            title = clean_title(entry.title)
            text = clean_article(entry.content_html, title=title).text
            articles.append(Article(name, title, text, entry.published, language))
    return articles


def label(articles: list[Article], groups: dict[str, Group]) -> dict[int, tuple[str, bool]]:
    """Article index → (group, is core). Every labelled prefix must match at least one entry."""
    labels: dict[int, tuple[str, bool]] = {}
    for name, group in groups.items():
        for members, core in ((group.core, True), (group.loose, False)):
            for feed, prefix in members:
                found = [
                    i
                    for i, a in enumerate(articles)
                    if a.feed == feed and a.title.startswith(prefix)
                ]
                assert found, f"{name}: no entry of {feed} starts with {prefix!r}"
                for index in found:
                    assert index not in labels, f"{prefix!r} is labelled twice"
                    labels[index] = (name, core)
    return labels


@dataclass
class Replay:
    links: list[tuple[int, int, float]] = field(default_factory=list)  # (new, matched, score)
    story: dict[int, int] = field(default_factory=dict)  # article index → story root
    seconds_per_match: float = 0.0


def replay(articles: list[Article], **options: object) -> Replay:
    """Feed the articles to a matcher in publication order, as the pipeline would ingest
    them, with the clock at each article's time; each article joins its match's story."""
    now = [datetime.min.replace(tzinfo=UTC)]
    matcher = StoryMatcher(clock=lambda: now[0], **options)  # type: ignore[arg-type]
    result = Replay()
    order = sorted(range(len(articles)), key=lambda i: articles[i].moment)
    spent = 0.0
    for index in order:
        article = articles[index]
        now[0] = article.moment
        started = time.perf_counter()
        found = matcher.match(
            title=article.title,
            text=article.text,
            published=article.published,
            language=article.language,
        )
        spent += time.perf_counter() - started
        result.story[index] = index
        if found is not None:
            result.links.append((index, found[0], found[1]))
            result.story[index] = result.story[found[0]]
        matcher.add(
            index,
            title=article.title,
            text=article.text,
            published=article.published,
            language=article.language,
            story=result.story[index],
        )
    result.seconds_per_match = spent / max(1, len(articles))
    return result


def acceptable(a: int, b: int, labels: dict[int, tuple[str, bool]]) -> bool:
    """Whether putting articles a and b in one story is right (or tolerated)."""
    if a not in labels or b not in labels:
        return False
    first, second = labels[a][0], labels[b][0]
    return (
        first == second
        or second in GROUPS[first].related
        or first in GROUPS.get(second, Group("")).related
    )


def false_links(run: Replay, labels: dict[int, tuple[str, bool]]) -> list[tuple[int, int, float]]:
    return [(a, b, s) for a, b, s in run.links if not acceptable(a, b, labels)]


def core_pairs(labels: dict[int, tuple[str, bool]]) -> Iterator[tuple[str, int, int]]:
    by_group: dict[str, list[int]] = {}
    for index, (name, core) in labels.items():
        if core:
            by_group.setdefault(name, []).append(index)
    for name, members in sorted(by_group.items()):
        for a, b in itertools.combinations(sorted(members), 2):
            yield name, a, b


def recall(run: Replay, labels: dict[int, tuple[str, bool]]) -> tuple[int, int]:
    """(core pairs that ended in one story, all core pairs)."""
    pairs = list(core_pairs(labels))
    joined = sum(run.story[a] == run.story[b] for _, a, b in pairs)
    return joined, len(pairs)


def item_recall(
    run: Replay, labels: dict[int, tuple[str, bool]], articles: list[Article]
) -> tuple[int, int]:
    """(core articles sharing a story with another core article of their group in the same
    language, core articles that have such a partner at all)."""
    by_group: dict[str, list[int]] = {}
    for index, (name, core) in labels.items():
        if core:
            by_group.setdefault(name, []).append(index)
    joined = total = 0
    for members in by_group.values():
        for index in members:
            partners = [
                other
                for other in members
                if other != index and articles[other].language == articles[index].language
            ]
            if partners:
                total += 1
                joined += any(run.story[index] == run.story[other] for other in partners)
    return joined, total


def describe(articles: list[Article], links: list[tuple[int, int, float]]) -> str:
    return "\n".join(
        f"{score:.2f} {articles[a].feed}: {articles[a].title!r} <-> "
        f"{articles[b].feed}: {articles[b].title!r}"
        for a, b, score in links
    )


Day = tuple[list[Article], dict[int, tuple[str, bool]], Replay]


@pytest.fixture(scope="module")
def day(corpus_dir: Path) -> Day:
    articles = load_feeds(corpus_dir)
    labels = label(articles, GROUPS)
    return articles, labels, replay(articles)


# --- the matcher ------------------------------------------------------------------------------

T0 = datetime(2017, 1, 7, 12, 0, tzinfo=UTC)
SHOOTING = (
    "Scenes From Fort Lauderdale Airport Shooting",
    "Witnesses filmed the chaos after a gunman shot and killed several people inside the Fort "
    "Lauderdale-Hollywood International Airport on Friday.",
)
SHOOTING_TOO = ("At least five dead in Fort Lauderdale airport shooting", "")
DISTRACTORS = [
    ("Winter Storm Threatens Atlanta and Rest of Southeast", "Customers looked for eggs."),
    ("Tilikum, the Killer Whale Featured in ‘Blackfish,’ Dies", "SeaWorld announced it."),
    ("Hong Kong confirms third bird flu case in three weeks", ""),
    ("Iraqi forces close in on Tigris in IS stronghold Mosul", "Special forces advanced."),
    ("Ghana's new President Akufo-Addo says will cut taxes", "He pledged to cut taxes."),
]


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def matcher_with(articles: list[tuple[str, str]], **options: object) -> StoryMatcher:
    matcher = StoryMatcher(clock=Clock(), **options)  # type: ignore[arg-type]
    for key, (title, text) in enumerate(articles):
        matcher.add(key, title=title, text=text, published=T0, language="en")
    return matcher


def test_two_publishers_teasers_of_one_event_match() -> None:
    matcher = matcher_with([*DISTRACTORS, SHOOTING])
    found = matcher.match(title=SHOOTING_TOO[0], text=SHOOTING_TOO[1], published=T0, language="en")
    assert found is not None
    assert found[0] == len(DISTRACTORS)
    assert found[1] >= DEFAULT_THRESHOLD


def test_an_unrelated_article_matches_nothing() -> None:
    matcher = matcher_with([*DISTRACTORS, SHOOTING])
    assert (
        matcher.match(
            title="Recovery Finally Yields Big Gains for Average Worker’s Pay",
            text="A job fair in Brighton, Colo., on Dec. 14.",
            published=T0,
            language="en",
        )
        is None
    )


def test_one_shared_two_word_name_is_not_enough_evidence() -> None:
    matcher = matcher_with(DISTRACTORS, threshold=0.01)
    found = matcher.match(
        title="Hong Kong rebel lawmakers met with protests in Taiwan",
        text="",
        published=T0,
        language="en",
    )
    assert found is None  # "Hong Kong" is one name: one unit of evidence, MIN_SHARED is two


def test_a_story_is_found_through_words_its_members_share_only_together() -> None:
    # The query shares "gunman" with one member and "Lauderdale" with the other: neither
    # article alone is a candidate, their story is.
    members = [("Gunman kills five", "A gunman killed five."), ("Lauderdale reopens", "")]
    query = {"title": "Lauderdale gunman", "text": "", "published": T0, "language": "en"}
    apart = matcher_with([*DISTRACTORS, *members], threshold=0.2)
    assert apart.match(**query) is None  # type: ignore[arg-type]
    together = StoryMatcher(threshold=0.2, clock=Clock())
    for key, (title, text) in enumerate([*DISTRACTORS, *members]):
        story = len(DISTRACTORS) if key > len(DISTRACTORS) else key
        together.add(key, title=title, text=text, published=T0, language="en", story=story)
    found = together.match(**query)  # type: ignore[arg-type]
    assert found is not None and found[0] in (len(DISTRACTORS), len(DISTRACTORS) + 1)


@pytest.mark.parametrize(
    ("indexed", "queried", "matches"),
    [(-35, 0, True), (0, -35, True), (0, -37, False), (-20, -57, False)],
)
def test_articles_more_than_the_window_apart_never_match(
    indexed: int, queried: int, matches: bool
) -> None:
    matcher = StoryMatcher(clock=Clock(T0))
    published = T0 + timedelta(hours=indexed)
    matcher.add(1, title=SHOOTING[0], text=SHOOTING[1], published=published, language="en")
    for key, (title, text) in enumerate(DISTRACTORS, start=10):
        matcher.add(key, title=title, text=text, published=T0, language="en")
    found = matcher.match(
        title=SHOOTING_TOO[0],
        text=SHOOTING_TOO[1],
        published=T0 + timedelta(hours=queried),
        language="en",
    )
    assert (found is not None) is matches


def test_an_undated_article_counts_as_published_when_it_was_added() -> None:
    clock = Clock(T0)
    matcher = StoryMatcher(clock=clock)
    matcher.add(1, title=SHOOTING[0], text=SHOOTING[1], published=None, language="en")
    for key, (title, text) in enumerate(DISTRACTORS, start=10):
        matcher.add(key, title=title, text=text, published=None, language="en")
    query = {"title": SHOOTING_TOO[0], "text": "", "language": "en"}
    assert matcher.match(published=T0 + timedelta(hours=30), **query) is not None
    assert matcher.match(published=T0 - timedelta(hours=40), **query) is None
    clock.now = T0 + timedelta(hours=20)
    assert matcher.match(published=None, **query) is not None  # now vs. T0: within the window


def test_articles_older_than_the_window_are_evicted() -> None:
    clock = Clock(T0)
    matcher = StoryMatcher(clock=clock)
    matcher.add(1, title=SHOOTING[0], text=SHOOTING[1], published=T0, language="en")
    matcher.add(2, title=SHOOTING_TOO[0], text="", published=None, language="en")
    clock.now = T0 + timedelta(hours=37)
    matcher.add(3, title="Later news", text="", published=None, language="en")
    assert len(matcher) == 1 and 3 in matcher


def test_the_oldest_articles_are_evicted_beyond_max_items() -> None:
    matcher = matcher_with([*DISTRACTORS, SHOOTING], max_items=3)
    assert len(matcher) == 3
    assert 0 not in matcher and len(DISTRACTORS) in matcher


def test_a_removed_article_is_no_longer_found() -> None:
    matcher = matcher_with([*DISTRACTORS, SHOOTING])
    matcher.remove(len(DISTRACTORS))
    found = matcher.match(title=SHOOTING_TOO[0], text="", published=T0, language="en")
    assert found is None
    with pytest.raises(KeyError):
        matcher.remove(len(DISTRACTORS))


def test_readding_a_key_replaces_the_article() -> None:
    matcher = matcher_with([*DISTRACTORS, SHOOTING])
    matcher.add(len(DISTRACTORS), title="Kitchen", text="", published=T0, language="en")
    assert len(matcher) == len(DISTRACTORS) + 1
    assert matcher.match(title=SHOOTING_TOO[0], text="", published=T0, language="en") is None


@pytest.mark.parametrize(
    "options", [{"threshold": 0.0}, {"threshold": 1.5}, {"window": timedelta(0)}, {"max_items": 0}]
)
def test_invalid_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StoryMatcher(**options)  # type: ignore[arg-type]


# --- the labelled day -------------------------------------------------------------------------


def test_same_language_reports_of_one_event_mostly_join_one_story(day: Day) -> None:
    articles, labels, run = day
    joined, total = item_recall(run, labels, articles)
    pairs_joined, pairs = recall(run, labels)
    # Measured at DEFAULT_THRESHOLD: 61/110 articles, 79/322 pairs (the big events split into
    # several stories, which costs many pairs and few articles).
    assert joined / total >= 0.5, f"articles {joined}/{total}, pairs {pairs_joined}/{pairs}"
    assert pairs_joined / pairs >= 0.2, f"pairs {pairs_joined}/{pairs}"
    lauderdale = [i for i, (name, _) in labels.items() if name == "fort_lauderdale_shooting"]
    stories = Counter(run.story[i] for i in lauderdale)
    assert stories.most_common(1)[0][1] >= 10  # of its 22 articles (measured: 12)


def test_no_story_mixes_two_labelled_events(day: Day) -> None:
    articles, labels, run = day
    members: dict[int, list[int]] = {}
    for index in labels:
        members.setdefault(run.story[index], []).append(index)
    mixed = [
        (articles[a].title, articles[b].title)
        for group in members.values()
        for a, b in itertools.combinations(group, 2)
        if not acceptable(a, b, labels)
    ]
    assert mixed == []


def test_merges_outside_labelled_events_are_near_zero(day: Day) -> None:
    articles, labels, run = day
    wrong = false_links(run, labels)
    # One known: "To celebrate inaugural or not? Trump critics are divided" joined "US:
    # Indian-Americans to celebrate Donald Trump's inauguration with a ball" (0.41).
    assert len(wrong) <= 1, describe(articles, wrong)
    assert len(run.links) >= 40, f"only {len(run.links)} merges in {len(articles)} articles"


def test_cross_language_merges_are_never_wrong(day: Day) -> None:
    # Measured, not forced (see the module docstring of bot.ingest.cluster): at the default
    # threshold no cross-language pair joins; when one does, it must be right.
    articles, labels, run = day
    crossing = [(a, b, s) for a, b, s in run.links if articles[a].language != articles[b].language]
    assert all(acceptable(a, b, labels) for a, b, _ in crossing), describe(articles, crossing)


def test_the_window_keeps_next_weeks_analysis_out_of_this_weeks_story(day: Day) -> None:
    articles, _, run = day
    far = [
        (a, b, s)
        for a, b, s in replay(articles, window=timedelta(days=30)).links
        if abs(articles[a].moment - articles[b].moment) > DEFAULT_WINDOW
    ]
    # Without the window, the Moscow Times' analysis of 13 January joins the 6 January
    # report of Russia's carrier leaving Syria: same actors, a different event.
    assert any(articles[a].feed == MOSCOW for a, _, _ in far), describe(articles, far)
    assert not any(
        abs(articles[a].moment - articles[b].moment) > DEFAULT_WINDOW for a, b, _ in run.links
    )


# --- the threshold's principle ----------------------------------------------------------------

# News feeds of other months and years: none of their events is in the January 2017 feeds.
OTHER_PERIODS = {
    "guardian-us-en-2018-01.rss": "en",
    "guardian-world-en-2022-09-malformed.rss": "en",
    "lemonde-une-fr-2018-02.rss": "fr",
    "livemint-news-en.rss": "en",
    "golem-de-2017-12.rss": "de",
    "golem-de-2018-10.rss": "de",
    "golem-de-2018-12.rss": "de",
    "heise-online-de.rdf": "de",
    "lanacion-es-ar-2022-04.rss": "es",
    "jornaldenoticias-pt-iso88591.rss": "pt",
    "aktuality-sk-2021-01.rss": "sk",
    "suspilne-ukrnet-uk-2023-12.rss": "uk",
    "bbc-urdu-ur-2018-10.rss": "ur",
    "uol-noticias-pt-br-malformed.rss": "pt",
}


def _period(article: Article) -> str:
    if article.feed in (MOSCOW, ORF):
        return "2017-01-10..23"
    if article.feed in FEEDS:
        return "2017-01-05..07"
    if article.feed in ("heise-online-de.rdf", "golem-de-2018-10.rss"):
        return "2018-10-28"  # heise is undated but tells golem's stories of that day
    return article.feed


def test_unrelated_articles_are_attached_to_a_story_about_one_time_in_a_hundred(
    corpus_dir: Path,
) -> None:
    """The principle DEFAULT_THRESHOLD was chosen by: every article is matched against all the
    articles of other periods (same actors, different events; window off); at most ~1% may
    reach the threshold."""
    articles = load_feeds(corpus_dir)
    for name, language in OTHER_PERIODS.items():
        parsed = parse_feed(
            (corpus_dir / "feeds" / name).read_bytes(), url="http://example.com/", content_type=None
        )
        for entry in parsed.entries:
            title = clean_title(entry.title)
            text = clean_article(entry.content_html, title=title).text
            articles.append(Article(name, title, text, None, language))
    clock = Clock(T0)
    attached: list[tuple[Article, Article, float]] = []
    for period in sorted({_period(a) for a in articles}):
        matcher = StoryMatcher(clock=clock, window=timedelta(days=36500))
        for key, a in enumerate(articles):
            if _period(a) != period:
                matcher.add(key, title=a.title, text=a.text, published=None, language=a.language)
        for a in articles:
            if _period(a) == period:
                found = matcher.match(
                    title=a.title, text=a.text, published=None, language=a.language
                )
                if found is not None:
                    attached.append((a, articles[found[0]], found[1]))
    rate = len(attached) / len(articles)
    detail = "\n".join(f"{s:.2f} {a.title!r} <-> {b.title!r}" for a, b, s in attached)
    assert rate <= 0.0101, f"{len(attached)}/{len(articles)} attached:\n{detail}"


# --- article pages (MANIFEST 2a) --------------------------------------------------------------

PAGE_GROUPS: dict[str, Group] = {
    "bubonic_plague": Group(
        "Plague cases in China, November 2019: the hunter who ate a wild rabbit.",
        core=(
            ("thesun-co-uk-8b194530", ""),
            ("nypost-com-432362af", ""),
            ("smithsonianmag-com-ea25dd7e", ""),
        ),
    ),
    "hibernating_astronauts": Group(
        "ESA study: hibernating crews would need smaller spacecraft.",
        core=(("phys-org-e1c7023e", ""), ("ctvnews-ca-b37be353", "")),
    ),
    "south_dakota_meth": Group(
        "South Dakota's 'Meth. We're on it.' campaign.",
        core=(("usatoday-com-776a1c04", ""), ("thehill-com-156770d6", "")),
    ),
    "hong_kong_polyu": Group(
        "Hong Kong protests at the Polytechnic University siege: news, editorial, opinion.",
        core=(
            ("theguardian-com-5fa3154e", ""),
            ("express-co-uk-624fcd90", ""),
            ("washingtonexaminer-com-e4c6a3b4", ""),
        ),
    ),
    "markets_and_trade_talks": Group(
        "Same-day market wraps (NY oil and stocks; Asian markets on US-China trade talks) and "
        "the trade talks themselves: related reports, not one event, so tolerated only.",
        loose=(
            ("reuters-com-57d46c9d", ""),
            ("cnn-com-d605bdef", ""),
            ("deccanherald-com-39d5c43b", ""),
        ),
    ),
    "wework_investigation": Group(
        "NY attorney general investigates WeWork; Business Insider's tech roundup leads with "
        "it (found by the matcher), so the roundup may join.",
        core=(("techcrunch-com-1ace8c85", ""),),
        loose=(("businessinsider-com-fde930b0", ""),),
    ),
}


def load_pages(corpus_dir: Path) -> list[Article]:
    """The full-gold article pages: gold text, and the page <title> without its site part."""
    pages = []
    for gold in sorted((corpus_dir / "articles").glob("*.gold.txt")):
        name = gold.name.removesuffix(".gold.txt")
        html = gold.with_name(f"{name}.html").read_bytes().decode("utf-8", "replace")
        found = re.search(r"<title[^>]*>(.*?)</title>", html, re.S | re.I)
        title = html_to_text(found.group(1)) if found else ""
        parts = [p.strip() for p in re.split(r"\s+[|\-–—]\s+", title) if p.strip()]
        pages.append(Article(name, max(parts, key=len, default=""), gold.read_text(), None, "en"))
    return pages


def test_duplicate_story_pages_join_without_false_merges(corpus_dir: Path) -> None:
    pages = load_pages(corpus_dir)
    labels = label(pages, PAGE_GROUPS)
    run = replay(pages)
    assert false_links(run, labels) == [], describe(pages, false_links(run, labels))
    joined = {
        frozenset(p.feed.split("-")[0] for p in (pages[a], pages[b])) for a, b, _ in run.links
    }
    # Measured: 3 of 8 labelled core pairs (plague: Sun + NY Post; meth: USA Today + The Hill;
    # astronauts: phys.org + CTV). Long pages open differently (the Smithsonian's "Three cases
    # of plague" vs the tabloids' hunter), and only the lead is compared.
    expected = [{"thesun", "nypost"}, {"usatoday", "thehill"}, {"phys", "ctvnews"}]
    assert {frozenset(pair) for pair in expected} <= joined
