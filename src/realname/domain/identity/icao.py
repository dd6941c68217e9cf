"""ICAO Doc 9303 Part 3 codes for issuing states and nationalities in machine-readable zones.

The ISO 3166-1 alpha-3 codes plus the codes ICAO adds (Germany's single ``D``, the British
nationality categories, United Nations, stateless persons and refugees, international bodies).
``UTO`` (the fictional Utopia of ICAO's specimens) is deliberately absent: specimens are not
documents. Tests that run the specimens pass ``SPECIMEN_COUNTRY_CODES`` explicitly.
"""

from __future__ import annotations

from typing import Final

_ISO_3166_ALPHA3_TEXT: Final = """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR
    BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG
    COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH
    FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY
    HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM
    KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL
    MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR
    NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU
    SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA
    TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB
    VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
"""
ISO_3166_ALPHA3: Final[frozenset[str]] = frozenset(_ISO_3166_ALPHA3_TEXT.split())

ICAO_EXTRA_CODES: Final[frozenset[str]] = frozenset(
    {
        "D",  # Germany (written D<< in the zone)
        "GBD",  # British Overseas Territories Citizen
        "GBN",  # British National (Overseas)
        "GBO",  # British Overseas Citizen
        "GBP",  # British Protected Person
        "GBS",  # British Subject
        "UNO",  # United Nations Organization official
        "UNA",  # United Nations specialized agency official
        "UNK",  # resident of Kosovo, travel document issued by UNMIK
        "RKS",  # Kosovo
        "EUE",  # European Union
        "XBA",  # African Development Bank
        "XIM",  # African Export-Import Bank
        "XCC",  # Caribbean Community
        "XCE",  # Council of Europe
        "XCO",  # Common Market for Eastern and Southern Africa
        "XEC",  # Economic Community of West African States
        "XPO",  # International Criminal Police Organization
        "XES",  # Organisation of Eastern Caribbean States
        "XMP",  # Parliamentary Assembly of the Mediterranean
        "XOM",  # Sovereign Military Order of Malta
        "XDC",  # Southern African Development Community
        "XXA",  # stateless person
        "XXB",  # refugee (1951 Convention)
        "XXC",  # refugee (other)
        "XXX",  # unspecified nationality
    }
)

ICAO_COUNTRY_CODES: Final[frozenset[str]] = ISO_3166_ALPHA3 | ICAO_EXTRA_CODES

SPECIMEN_COUNTRY_CODES: Final[frozenset[str]] = ICAO_COUNTRY_CODES | {"UTO"}
