#!/usr/bin/perl
# mkmmdb.pl OUT.mmdb TYPE < LINES - a MaxMind DB for the tests, written
# by Debian's libmaxmind-db-writer-perl (no downloaded database).
#   LINES: "network<TAB>JSON object" (10.0.0.0/25, 2001:db8::/32), the
#   data as GeoLite2 lays it out: {"country":{"iso_code":"US"}} or
#   {"autonomous_system_number":64500,"autonomous_system_organization":"X"}.
#   TYPE: the database_type written in the metadata (e.g. GeoLite2-Country).
# IPv4 networks go in the IPv6 tree's ::/96, as in MaxMind's own files.
use strict;
use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;

my ($out, $type) = @ARGV;
die "usage: mkmmdb.pl OUT.mmdb TYPE < LINES\n" unless $out && $type;
my %types = (
    country                        => 'map',
    registered_country             => 'map',
    city                           => 'map',
    names                          => 'map',
    en                             => 'utf8_string',
    iso_code                       => 'utf8_string',
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 28,
    # 10/8, 172.16/12, 2001:db8::/32 are what tests use: keep them
    remove_reserved_networks => 0,
    database_type         => $type,
    languages             => ['en'],
    description           => { en => 'flowsql test database' },
    map_key_type_callback => sub { $types{ $_[0] } // die "no type for $_[0]\n" },
);
while (my $line = <STDIN>) {
    chomp $line;
    next if $line =~ /^\s*(#|$)/;
    my ($net, $json) = split /\t/, $line, 2;
    $tree->insert_network($net, decode_json($json));
}
open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh or die "$out: $!\n";
