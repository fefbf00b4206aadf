<?xml version="1.0" encoding="UTF-8"?>
<!--
  Renders OAI-PMH responses as a readable page when a person opens /oai in a browser.
  Served by the repository itself (no external host). XSLT 1.0, so every browser runs it.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:oai="http://www.openarchives.org/OAI/2.0/"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:id="http://www.openarchives.org/OAI/2.0/oai-identifier"
    exclude-result-prefixes="oai oai_dc dc id">
  <xsl:output method="html" encoding="UTF-8" indent="yes"/>
  <xsl:variable name="base" select="/oai:OAI-PMH/oai:request/text()"/>

  <xsl:template match="/">
    <html lang="zh-Hans">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>OAI-PMH · <xsl:value-of select="/oai:OAI-PMH/oai:request/@verb"/></title>
        <style>
          body { font-family: sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #222; line-height: 1.5; }
          nav a { margin-right: 1em; } table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2em .5em; text-align: left; vertical-align: top; }
          .record { border-top: 1px solid #999; padding: .5em 0; } .deleted { color: #8a1c1c; } .error { background: #fde8e8; padding: .5em; border-left: 4px solid #8a1c1c; }
          dt { font-weight: bold; }
        </style>
      </head>
      <body>
        <h1>OAI-PMH 2.0</h1>
        <nav>
          <a href="?verb=Identify">Identify</a>
          <a href="?verb=ListSets">ListSets</a>
          <a href="?verb=ListMetadataFormats">ListMetadataFormats</a>
          <a href="?verb=ListIdentifiers&amp;metadataPrefix=oai_dc">ListIdentifiers</a>
          <a href="?verb=ListRecords&amp;metadataPrefix=oai_dc">ListRecords</a>
        </nav>
        <p>Request: <code><xsl:value-of select="/oai:OAI-PMH/oai:request/@verb"/></code>
          · response date <xsl:value-of select="/oai:OAI-PMH/oai:responseDate"/></p>
        <xsl:apply-templates select="/oai:OAI-PMH/oai:error"/>
        <xsl:apply-templates select="/oai:OAI-PMH/*[not(self::oai:responseDate or self::oai:request or self::oai:error)]"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="oai:error">
    <p class="error" role="alert"><strong><xsl:value-of select="@code"/></strong>: <xsl:value-of select="."/></p>
  </xsl:template>

  <xsl:template match="oai:Identify">
    <table>
      <xsl:for-each select="*[not(self::oai:description)]">
        <tr><th><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
      </xsl:for-each>
      <xsl:for-each select="oai:description/id:oai-identifier/*">
        <tr><th><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="oai:ListMetadataFormats">
    <table>
      <tr><th>metadataPrefix</th><th>schema</th><th>namespace</th></tr>
      <xsl:for-each select="oai:metadataFormat">
        <tr>
          <td><a href="?verb=ListRecords&amp;metadataPrefix={oai:metadataPrefix}"><xsl:value-of select="oai:metadataPrefix"/></a></td>
          <td><xsl:value-of select="oai:schema"/></td>
          <td><xsl:value-of select="oai:metadataNamespace"/></td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="oai:ListSets">
    <table>
      <tr><th>setSpec</th><th>setName</th></tr>
      <xsl:for-each select="oai:set">
        <tr>
          <td><a href="?verb=ListRecords&amp;metadataPrefix=oai_dc&amp;set={oai:setSpec}"><xsl:value-of select="oai:setSpec"/></a></td>
          <td><xsl:value-of select="oai:setName"/></td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="oai:GetRecord | oai:ListRecords | oai:ListIdentifiers">
    <xsl:apply-templates select="oai:record | oai:header"/>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:record">
    <div class="record">
      <xsl:apply-templates select="oai:header"/>
      <xsl:apply-templates select="oai:metadata/oai_dc:dc"/>
    </div>
  </xsl:template>

  <xsl:template match="oai:header">
    <p>
      <xsl:if test="@status='deleted'"><xsl:attribute name="class">deleted</xsl:attribute>[deleted] </xsl:if>
      <a href="?verb=GetRecord&amp;metadataPrefix=oai_dc&amp;identifier={oai:identifier}"><xsl:value-of select="oai:identifier"/></a>
      · <xsl:value-of select="oai:datestamp"/>
      <xsl:for-each select="oai:setSpec"> · <xsl:value-of select="."/></xsl:for-each>
    </p>
  </xsl:template>

  <xsl:template match="oai_dc:dc">
    <dl>
      <xsl:for-each select="dc:*">
        <dt><xsl:value-of select="local-name()"/></dt><dd><xsl:value-of select="."/></dd>
      </xsl:for-each>
    </dl>
  </xsl:template>

  <xsl:template match="oai:resumptionToken">
    <p>
      <xsl:value-of select="@cursor"/> / <xsl:value-of select="@completeListSize"/>
      <xsl:if test="normalize-space(.)">
        · <a href="?verb={/oai:OAI-PMH/oai:request/@verb}&amp;resumptionToken={.}">next page</a>
      </xsl:if>
    </p>
  </xsl:template>
</xsl:stylesheet>
